import { Dialog } from "../../components/Dialog";
import { ErrorBanner, FormErrors } from "../../components/ErrorBanner";
import { useDeleteWebhook } from "./useDeleteWebhook";

export type WebhookToChange = { id: string; url: string };

type DeleteWebhookDialogProps = {
  webhook: WebhookToChange | null;
  onClose: () => void;
};

/** Deleting stops deliveries at once and drops the delivery log; the confirmation names the URL. */
export function DeleteWebhookDialog({ webhook, onClose }: DeleteWebhookDialogProps) {
  const deleteWebhook = useDeleteWebhook();
  const failed = deleteWebhook.outcome?.ok === false ? deleteWebhook.outcome : null;

  function close() {
    deleteWebhook.reset();
    onClose();
  }

  async function confirm() {
    if (!webhook) return;
    const outcome = await deleteWebhook.run({ input: { id: webhook.id } });
    if (outcome.ok) close();
  }

  return (
    <Dialog
      open={webhook !== null}
      title="Delete this webhook?"
      onClose={close}
      description={
        webhook && (
          <p>
            Nothing more is sent to <code className="break-anywhere">{webhook.url}</code>, and its
            delivery log is deleted with it. This cannot be undone.
          </p>
        )
      }
    >
      {failed?.failure && <ErrorBanner failure={failed.failure} />}
      <FormErrors messages={failed?.errors.form ?? []} />
      <div className="form__actions">
        <button type="button" className="button button--secondary" onClick={close} autoFocus>
          Cancel
        </button>
        <button type="button" className="button button--danger" disabled={deleteWebhook.fetching} onClick={() => void confirm()}>
          Delete webhook
        </button>
      </div>
    </Dialog>
  );
}
