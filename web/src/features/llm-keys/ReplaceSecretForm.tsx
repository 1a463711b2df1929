import { useState, type FormEvent } from "react";

import { ErrorBanner, FormErrors } from "../../components/ErrorBanner";
import { FormField } from "../../components/FormField";
import { useUpdateLlmApiKey } from "./useUpdateLlmApiKey";
import { checkSecret } from "./validation";

/** A new secret for the same provider key: requests switch to it at once, with no gap. */
export function ReplaceSecretForm({ id, onDone }: { id: string; onDone: () => void }) {
  const update = useUpdateLlmApiKey();
  const [secret, setSecret] = useState("");
  const [check, setCheck] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const problem = checkSecret(secret);
    setCheck(problem);
    if (problem) return;
    const outcome = await update.run({ input: { id, secretKey: secret } });
    if (outcome.ok) onDone();
  }

  const failed = update.outcome?.ok === false ? update.outcome : null;
  return (
    <form className="form card__form" onSubmit={(event) => void submit(event)} noValidate>
      {failed?.failure && <ErrorBanner failure={failed.failure} />}
      <FormErrors messages={failed?.errors.form ?? []} />
      <FormField label="Secret key" error={check ?? failed?.errors.fields.secretKey}
        hint="The new key from the provider’s dashboard. Requests use it as soon as you save.">
        {(props) => (
          <input {...props} className="input input--mono" type="password" autoComplete="off" autoFocus value={secret}
            onChange={(event) => setSecret(event.target.value)} />
        )}
      </FormField>
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
