import { useState } from "react";

import { Dialog } from "../../components/Dialog";
import { ErrorBanner } from "../../components/ErrorBanner";
import { ApiKeyForm } from "./ApiKeyForm";
import { NewSecret } from "../../components/NewSecret";
import { useCreateApiKey } from "./useCreateApiKey";

type CreateApiKeyDialogProps = {
  projectId: string;
  open: boolean;
  onClose: () => void;
};

/** Create a key, then show its secret once. Closing the dialog forgets the secret. */
export function CreateApiKeyDialog({ projectId, open, onClose }: CreateApiKeyDialogProps) {
  const createApiKey = useCreateApiKey();
  const [secret, setSecret] = useState<string | null>(null);

  function close() {
    setSecret(null);
    createApiKey.reset();
    onClose();
  }

  async function create(input: { note: string; expiresAt: string | null }) {
    const outcome = await createApiKey.run({ input: { projectId, ...input } });
    if (outcome.ok && outcome.payload.secret) setSecret(outcome.payload.secret);
  }

  const failed = createApiKey.outcome?.ok === false ? createApiKey.outcome : null;

  return (
    <Dialog open={open} title={secret ? "API key created" : "Create API key"} onClose={close}>
      {secret ? (
        <>
          <NewSecret secret={secret} />
          <div className="form__actions">
            <button type="button" className="button button--primary" onClick={close}>
              I have copied it
            </button>
          </div>
        </>
      ) : (
        <>
          {failed?.failure && <ErrorBanner failure={failed.failure} />}
          <ApiKeyForm
            submitting={createApiKey.fetching}
            serverErrors={failed?.errors ?? null}
            onSubmit={(input) => void create(input)}
            onCancel={close}
          />
        </>
      )}
    </Dialog>
  );
}
