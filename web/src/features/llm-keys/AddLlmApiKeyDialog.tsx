import { useState, type FormEvent } from "react";

import { Dialog } from "../../components/Dialog";
import { ErrorBanner, FormErrors } from "../../components/ErrorBanner";
import { FormField } from "../../components/FormField";
import type { LlmProvider } from "../../gql/graphql";
import { ModelsFields } from "./ModelsFields";
import { PROVIDERS } from "./providers";
import { useAddLlmApiKey } from "./useAddLlmApiKey";
import { checkSecret, modelsToSend, type ModelsValues } from "./validation";

type AddLlmApiKeyDialogProps = {
  projectId: string;
  open: boolean;
  /** Providers without a key yet (one key per provider). */
  available: LlmProvider[];
  onClose: () => void;
};

export function AddLlmApiKeyDialog({ projectId, open, available, onClose }: AddLlmApiKeyDialogProps) {
  const addKey = useAddLlmApiKey();
  const [provider, setProvider] = useState<LlmProvider | "">("");
  const [secret, setSecret] = useState("");
  const [models, setModels] = useState<ModelsValues>({ customModels: [], pending: "", withDefaultModels: true });
  const [checks, setChecks] = useState<{ provider?: string; secretKey?: string }>({});

  function close() {
    setProvider("");
    setSecret("");
    setModels({ customModels: [], pending: "", withDefaultModels: true });
    setChecks({});
    addKey.reset();
    onClose();
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    const chosen = provider || available[0];
    const local = {
      ...(chosen ? {} : { provider: "Choose a provider." }),
      ...(checkSecret(secret) ? { secretKey: checkSecret(secret) ?? "" } : {}),
    };
    setChecks(local);
    if (!chosen || Object.keys(local).length > 0) return;
    const customModels = modelsToSend(models);
    setModels({ ...models, customModels, pending: "" });
    const outcome = await addKey.run({
      input: { projectId, provider: chosen, secretKey: secret, customModels, withDefaultModels: models.withDefaultModels },
    });
    if (outcome.ok) close();
  }

  const failed = addKey.outcome?.ok === false ? addKey.outcome : null;
  const errors = failed?.errors ?? null;
  const selected = provider || available[0] || "";

  return (
    <Dialog open={open} title="Add LLM API key" onClose={close}
      description="The key is stored encrypted and never shown again; only its last 4 characters are.">
      {failed?.failure && <ErrorBanner failure={failed.failure} />}
      <form className="form" onSubmit={(event) => void submit(event)} noValidate>
        <FormErrors messages={errors?.form ?? []} />
        <FormField label="Provider" error={checks.provider ?? errors?.fields.provider}>
          {(props) => (
            <select {...props} className="input select" value={selected}
              onChange={(event) => setProvider(event.target.value as LlmProvider)}>
              {available.map((value) => (
                <option key={value} value={value}>
                  {PROVIDERS[value].name}
                </option>
              ))}
            </select>
          )}
        </FormField>
        <FormField label="Secret key" error={checks.secretKey ?? errors?.fields.secretKey}>
          {(props) => (
            <input {...props} className="input input--mono" type="password" autoComplete="off" value={secret}
              placeholder={selected ? PROVIDERS[selected].secretPlaceholder : undefined}
              onChange={(event) => setSecret(event.target.value)} />
          )}
        </FormField>
        <ModelsFields values={models} onChange={setModels} errors={errors} />
        <div className="form__actions">
          <button type="button" className="button button--secondary" onClick={close}>
            Cancel
          </button>
          <button type="submit" className="button button--primary" disabled={addKey.fetching}>
            Add LLM API key
          </button>
        </div>
      </form>
    </Dialog>
  );
}
