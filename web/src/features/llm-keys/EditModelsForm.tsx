import { useState, type FormEvent } from "react";

import { ErrorBanner, FormErrors } from "../../components/ErrorBanner";
import type { LlmApiKeyFieldsFragment } from "../../gql/graphql";
import { ModelsFields } from "./ModelsFields";
import { useUpdateLlmApiKey } from "./useUpdateLlmApiKey";
import { modelsToSend, type ModelsValues } from "./validation";

export function EditModelsForm({ llmKey, onDone }: { llmKey: LlmApiKeyFieldsFragment; onDone: () => void }) {
  const update = useUpdateLlmApiKey();
  const [models, setModels] = useState<ModelsValues>({
    customModels: [...llmKey.customModels],
    pending: "",
    withDefaultModels: llmKey.withDefaultModels,
  });

  async function submit(event: FormEvent) {
    event.preventDefault();
    const customModels = modelsToSend(models);
    setModels({ ...models, customModels, pending: "" });
    const outcome = await update.run({
      input: { id: llmKey.id, customModels, withDefaultModels: models.withDefaultModels },
    });
    if (outcome.ok) onDone();
  }

  const failed = update.outcome?.ok === false ? update.outcome : null;
  return (
    <form className="form card__form" onSubmit={(event) => void submit(event)} noValidate>
      {failed?.failure && <ErrorBanner failure={failed.failure} />}
      <FormErrors messages={failed?.errors.form ?? []} />
      <ModelsFields values={models} onChange={setModels} errors={failed?.errors ?? null} />
      <div className="form__actions">
        <button type="button" className="button button--secondary" onClick={onDone}>
          Cancel
        </button>
        <button type="submit" className="button button--primary" disabled={update.fetching}>
          Save
        </button>
      </div>
    </form>
  );
}
