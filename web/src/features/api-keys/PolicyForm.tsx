import { useState, type FormEvent } from "react";

import { ChipsInput } from "../../components/ChipsInput";
import { ErrorBanner, FormErrors } from "../../components/ErrorBanner";
import { FormField } from "../../components/FormField";
import type { ApiKeyPolicyFieldsFragment } from "../../gql/graphql";
import { BudgetFields } from "./BudgetFields";
import { checkPolicy, policyValues, type PolicyField, type PolicyValues } from "./policy";
import { useUpdateApiKeyPolicy } from "./useUpdateApiKeyPolicy";

type PolicyFormProps = {
  keyId: string;
  policy: ApiKeyPolicyFieldsFragment;
  /** The project's model ids, offered as the allowed models are typed. */
  models: ReadonlyArray<string>;
  onDone: () => void;
};

/** The whole policy, edited in place; saving replaces it, from the key's next request on. */
export function PolicyForm({ keyId, policy, models, onDone }: PolicyFormProps) {
  const update = useUpdateApiKeyPolicy();
  const [values, setValues] = useState<PolicyValues>(() => policyValues(policy));
  const [checks, setChecks] = useState<Partial<Record<PolicyField, string>>>({});

  async function submit(event: FormEvent) {
    event.preventDefault();
    const check = checkPolicy(values);
    setChecks(check.ok ? {} : check.fields);
    if (!check.ok) return;
    // What was still typed in a chips field is now a chip.
    setValues({
      ...values,
      models: { values: check.input.allowedModels ?? [], pending: "" },
      ips: { values: check.input.allowedIps ?? [], pending: "" },
    });
    const outcome = await update.run({ input: { id: keyId, policy: check.input } });
    if (outcome.ok) onDone();
  }

  const failed = update.outcome?.ok === false ? update.outcome : null;
  const hasChecks = Object.keys(checks).length > 0;
  const error = (field: PolicyField) => (hasChecks ? checks[field] : failed?.errors.fields[field]);
  const items = (field: PolicyField) => (hasChecks ? undefined : failed?.errors.items[field]);
  // A list whose entries are at fault shows each message on its entry, and says so under the field.
  const listError = (field: PolicyField) => {
    const marked = Object.keys(items(field) ?? {}).length;
    if (marked === 0) return error(field);
    return marked === 1 ? "Correct or remove the marked entry." : `Correct or remove the ${marked} marked entries.`;
  };

  return (
    <form className="form policy-form" onSubmit={(event) => void submit(event)} noValidate aria-label="Edit policy">
      {failed?.failure && <ErrorBanner failure={failed.failure} />}
      <FormErrors messages={hasChecks ? [] : (failed?.errors.form ?? [])} />

      <fieldset className={`field choices${error("scopes") ? " field--invalid" : ""}`}>
        <legend className="field__label">Scopes</legend>
        <label className="check">
          <input type="checkbox" className="check__box" checked={values.scopes.PROXY}
            onChange={(event) => setValues({ ...values, scopes: { ...values.scopes, PROXY: event.target.checked } })} />
          <span>Call models through the proxy (<code>/v1</code>)</span>
        </label>
        <label className="check">
          <input type="checkbox" className="check__box" checked={values.scopes.READ}
            onChange={(event) => setValues({ ...values, scopes: { ...values.scopes, READ: event.target.checked } })} />
          <span>Read this project over GraphQL</span>
        </label>
        {error("scopes") && <p className="field__error">{error("scopes")}</p>}
      </fieldset>

      <ChipsInput
        label="Allowed models"
        values={values.models.values}
        pending={values.models.pending}
        onChange={(next) => setValues({ ...values, models: next })}
        error={listError("allowedModels")}
        itemErrors={items("allowedModels")}
        hint="Model ids of this project, exactly. Leave empty for every model."
        placeholder="e.g. gpt-4.1-mini, then Enter"
        suggestions={models}
      />
      <ChipsInput
        label="Allowed client addresses"
        values={values.ips.values}
        pending={values.ips.pending}
        onChange={(next) => setValues({ ...values, ips: next })}
        error={listError("allowedIps")}
        itemErrors={items("allowedIps")}
        hint="IPv4 or IPv6 addresses and CIDR ranges. Leave empty for any address."
        placeholder="e.g. 203.0.113.0/24, then Enter"
      />

      <div className="form-grid">
        <LimitField label="Requests per minute" value={values.requestsPerMinute} error={error("requestsPerMinute")}
          onChange={(requestsPerMinute) => setValues({ ...values, requestsPerMinute })} />
        <LimitField label="Tokens per minute" value={values.tokensPerMinute} error={error("tokensPerMinute")}
          onChange={(tokensPerMinute) => setValues({ ...values, tokensPerMinute })} />
        <LimitField label="Requests at once" value={values.maxConcurrentRequests} error={error("maxConcurrentRequests")}
          onChange={(maxConcurrentRequests) => setValues({ ...values, maxConcurrentRequests })} />
      </div>

      <BudgetFields values={values.budgets} onChange={(budgets) => setValues({ ...values, budgets })}
        errors={{ tokenBudget: error("tokenBudget"), spendBudgetUsd: error("spendBudgetUsd") }} />

      <div className="form__actions">
        <button type="button" className="button button--secondary" onClick={onDone}>
          Cancel
        </button>
        <button type="submit" className="button button--primary" disabled={update.fetching}>
          Save policy
        </button>
      </div>
    </form>
  );
}

type LimitFieldProps = { label: string; value: string; error: string | undefined; onChange: (value: string) => void };

function LimitField({ label, value, error, onChange }: LimitFieldProps) {
  return (
    <FormField label={label} error={error} hint="Blank: no limit.">
      {(props) => (
        <input {...props} className="input" inputMode="numeric" value={value} onChange={(event) => onChange(event.target.value)} />
      )}
    </FormField>
  );
}
