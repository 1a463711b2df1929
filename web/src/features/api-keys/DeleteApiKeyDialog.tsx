import { Dialog } from "../../components/Dialog";
import { ErrorBanner, FormErrors } from "../../components/ErrorBanner";
import { useDeleteApiKey } from "./useDeleteApiKey";

export type KeyToDelete = { id: string; note: string; start: string };

type DeleteApiKeyDialogProps = {
  apiKey: KeyToDelete | null;
  onClose: () => void;
  /** After the key is gone (e.g. leave its page). */
  onDeleted?: (id: string) => void;
};

/** Deleting revokes at once; the confirmation names the key by its note so nobody deletes the wrong one. */
export function DeleteApiKeyDialog({ apiKey, onClose, onDeleted }: DeleteApiKeyDialogProps) {
  const deleteApiKey = useDeleteApiKey();
  const failed = deleteApiKey.outcome?.ok === false ? deleteApiKey.outcome : null;

  function close() {
    deleteApiKey.reset();
    onClose();
  }

  async function confirm() {
    if (!apiKey) return;
    const outcome = await deleteApiKey.run({ input: { id: apiKey.id } });
    if (outcome.ok) {
      close();
      onDeleted?.(apiKey.id);
    }
  }

  return (
    <Dialog
      open={apiKey !== null}
      title={apiKey ? `Delete the API key “${apiKey.note}”?` : "Delete API key"}
      onClose={close}
      description={
        apiKey && (
          <p>
            The key <code>{apiKey.start}…</code> stops working at once: every request made with it
            gets 401 from now on. This cannot be undone.
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
        <button type="button" className="button button--danger" disabled={deleteApiKey.fetching} onClick={() => void confirm()}>
          Delete
        </button>
      </div>
    </Dialog>
  );
}
