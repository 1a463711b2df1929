import { useState } from "react";

import { Dialog } from "../../components/Dialog";
import { ErrorBanner } from "../../components/ErrorBanner";
import { DEFAULT_EVENTS } from "./events";
import { SigningSecret } from "./SigningSecret";
import { useAddWebhook } from "./useAddWebhook";
import { WebhookForm, type WebhookFormValues } from "./WebhookForm";

type AddWebhookDialogProps = {
  projectId: string;
  open: boolean;
  onClose: () => void;
};

const INITIAL: WebhookFormValues = { url: "", events: [...DEFAULT_EVENTS], enabled: true };

/** Register an endpoint, then show its signing secret once. Closing the dialog forgets it. */
export function AddWebhookDialog({ projectId, open, onClose }: AddWebhookDialogProps) {
  const addWebhook = useAddWebhook();
  const [secret, setSecret] = useState<string | null>(null);

  function close() {
    setSecret(null);
    addWebhook.reset();
    onClose();
  }

  async function add(values: WebhookFormValues) {
    const outcome = await addWebhook.run({ input: { projectId, url: values.url, events: values.events } });
    if (outcome.ok && outcome.payload.secret) setSecret(outcome.payload.secret);
  }

  const failed = addWebhook.outcome?.ok === false ? addWebhook.outcome : null;

  return (
    <Dialog open={open} title={secret ? "Webhook added" : "Add webhook"} onClose={close}
      description={secret ? null : "TrayLinx POSTs the events you choose to this URL, signed with a secret only you and TrayLinx know."}>
      {secret ? (
        <>
          <SigningSecret secret={secret} />
          <p className="muted">Send a test delivery from the webhook’s card to check that your endpoint accepts it.</p>
          <div className="form__actions">
            <button type="button" className="button button--primary" onClick={close}>
              I have copied it
            </button>
          </div>
        </>
      ) : (
        <>
          {failed?.failure && <ErrorBanner failure={failed.failure} />}
          <WebhookForm initial={INITIAL} showEnabled={false} submitLabel="Add webhook" submitting={addWebhook.fetching}
            serverErrors={failed?.errors ?? null} onSubmit={(values) => void add(values)} onCancel={close} />
        </>
      )}
    </Dialog>
  );
}
