import { Dialog } from "../../components/Dialog";
import { ErrorBanner, FormErrors } from "../../components/ErrorBanner";
import type { LlmProvider } from "../../gql/graphql";
import { providerName } from "./providers";
import { useDeleteLlmApiKey } from "./useDeleteLlmApiKey";

type DeleteLlmApiKeyDialogProps = {
  llmKey: { id: string; provider: LlmProvider } | null;
  onClose: () => void;
};

export function DeleteLlmApiKeyDialog({ llmKey, onClose }: DeleteLlmApiKeyDialogProps) {
  const deleteKey = useDeleteLlmApiKey();
  const failed = deleteKey.outcome?.ok === false ? deleteKey.outcome : null;
  const name = llmKey ? providerName(llmKey.provider) : "";

  function close() {
    deleteKey.reset();
    onClose();
  }

  async function confirm() {
    if (!llmKey) return;
    const outcome = await deleteKey.run({ input: { id: llmKey.id } });
    if (outcome.ok) close();
  }

  return (
    <Dialog
      open={llmKey !== null}
      title={`Delete the ${name} key?`}
      onClose={close}
      description={
        <p>
          Requests to {name} through this project stop at once: calls to its models fail until you
          add a key again. The stored secret is erased.
        </p>
      }
    >
      {failed?.failure && <ErrorBanner failure={failed.failure} />}
      <FormErrors messages={failed?.errors.form ?? []} />
      <div className="form__actions">
        <button type="button" className="button button--secondary" onClick={close} autoFocus>
          Cancel
        </button>
        <button type="button" className="button button--danger" disabled={deleteKey.fetching} onClick={() => void confirm()}>
          Delete
        </button>
      </div>
    </Dialog>
  );
}
