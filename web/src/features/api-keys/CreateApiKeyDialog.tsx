import { useState } from "react";

import { Dialog } from "../../components/Dialog";
import { ErrorBanner } from "../../components/ErrorBanner";
import { ApiKeyForm } from "./ApiKeyForm";
import { NewSecret } from "./NewSecret";
import { useCreateApiKey } from "./useCreateApiKey";

export type RotatedKey = { id: string; note: string; start: string };

type CreateApiKeyDialogProps = {
  projectId: string;
  open: boolean;
  onClose: () => void;
  /** Set when rotating: the new key gets the old key's note, and the reminder names the old key. */
  rotating?: RotatedKey | null;
  /** Rotation's last step, offered once the new key exists. */
  onDeleteOld?: (key: RotatedKey) => void;
};

/**
 * Create (or rotate) a key, then show its secret once. Closing the dialog forgets the secret.
 * Rotation follows the product's rule: there is no in-place rotation; a new key with the same
 * note, services moved to it, then the old key deleted. Both work until then.
 */
export function CreateApiKeyDialog({ projectId, open, onClose, rotating = null, onDeleteOld }: CreateApiKeyDialogProps) {
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
  const title = secret ? "API key created" : rotating ? `Rotate “${rotating.note}”` : "Create API key";

  return (
    <Dialog
      open={open}
      title={title}
      onClose={close}
      description={
        !secret && rotating
          ? "A new key with the same note. The old key keeps working until you delete it, so you can move your services without downtime."
          : undefined
      }
    >
      {secret ? (
        <>
          <NewSecret secret={secret} />
          {rotating && (
            <div className="banner banner--warning">
              <p className="banner__message">
                Next: move your services to the new key, then delete the old key “{rotating.note}” (
                <code>{rotating.start}…</code>). Until you do, both keys work.
              </p>
              {onDeleteOld && (
                <button type="button" className="button button--secondary button--small"
                  onClick={() => { close(); onDeleteOld(rotating); }}>
                  Delete the old key…
                </button>
              )}
            </div>
          )}
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
            initialNote={rotating?.note ?? ""}
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
