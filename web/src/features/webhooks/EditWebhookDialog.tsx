import { Dialog } from "../../components/Dialog";
import { ErrorBanner } from "../../components/ErrorBanner";
import type { WebhookFieldsFragment } from "../../gql/graphql";
import { changedFields, inFormOrder } from "./events";
import { useUpdateWebhook } from "./useUpdateWebhook";
import { WebhookForm, type WebhookFormValues } from "./WebhookForm";

type EditWebhookDialogProps = {
  webhook: WebhookFieldsFragment | null;
  onClose: () => void;
};

/** The URL, the events and the enabled switch, sent together (the secret stays as it is). */
export function EditWebhookDialog({ webhook, onClose }: EditWebhookDialogProps) {
  const updateWebhook = useUpdateWebhook();

  function close() {
    updateWebhook.reset();
    onClose();
  }

  async function save(values: WebhookFormValues) {
    if (!webhook) return;
    const changes = changedFields(webhook, values);
    // Nothing changed: nothing to send (and nothing for the audit log to record).
    if (Object.keys(changes).length === 0) {
      close();
      return;
    }
    const outcome = await updateWebhook.run({ input: { id: webhook.id, ...changes } });
    if (outcome.ok) close();
  }

  const failed = updateWebhook.outcome?.ok === false ? updateWebhook.outcome : null;

  return (
    <Dialog open={webhook !== null} title="Edit webhook" onClose={close}>
      {failed?.failure && <ErrorBanner failure={failed.failure} />}
      {webhook && (
        <WebhookForm
          key={webhook.id}
          initial={{ url: webhook.url, events: inFormOrder(webhook.events), enabled: webhook.enabled }}
          showEnabled
          submitLabel="Save changes"
          submitting={updateWebhook.fetching}
          serverErrors={failed?.errors ?? null}
          onSubmit={(values) => void save(values)}
          onCancel={close}
        />
      )}
    </Dialog>
  );
}
