import { useState, type FormEvent } from "react";

import { FormErrors } from "../../components/ErrorBanner";
import { FormField } from "../../components/FormField";
import type { FieldErrors } from "../../graphql/userErrors";
import { timeZoneName } from "../../lib/dates";
import { checkApiKeyForm, type ApiKeyFormField } from "./validation";

type ApiKeyFormProps = {
  submitting: boolean;
  serverErrors: FieldErrors<ApiKeyFormField> | null;
  onSubmit: (input: { note: string; expiresAt: string | null }) => void;
  onCancel: () => void;
};

/** Note and optional expiry of a new key. */
export function ApiKeyForm({ submitting, serverErrors, onSubmit, onCancel }: ApiKeyFormProps) {
  const [note, setNote] = useState("");
  const [expiresAt, setExpiresAt] = useState("");
  const [checks, setChecks] = useState<Partial<Record<ApiKeyFormField, string>>>({});

  function submit(event: FormEvent) {
    event.preventDefault();
    const check = checkApiKeyForm({ note, expiresAt });
    setChecks(check.ok ? {} : check.fields);
    if (check.ok) onSubmit(check.input);
  }

  // Browser checks first; once they pass, what the service said.
  const hasChecks = Object.keys(checks).length > 0;
  const noteError = hasChecks ? checks.note : serverErrors?.fields.note;
  const expiresError = hasChecks ? checks.expiresAt : serverErrors?.fields.expiresAt;

  return (
    <form className="form" onSubmit={submit} noValidate>
      <FormErrors messages={hasChecks ? [] : (serverErrors?.form ?? [])} />
      <FormField label="Note" error={noteError} hint="Where the key is used, e.g. Production backend.">
        {(props) => (
          <input {...props} className="input" value={note} maxLength={500} required autoFocus
            onChange={(event) => setNote(event.target.value)} />
        )}
      </FormField>
      <FormField
        label="Expires at"
        error={expiresError}
        hint={`Optional; leave blank for a key that never expires. In your time zone (${timeZoneName()}).`}
      >
        {(props) => (
          <input {...props} className="input" type="datetime-local" value={expiresAt}
            onChange={(event) => setExpiresAt(event.target.value)} />
        )}
      </FormField>
      <div className="form__actions">
        <button type="button" className="button button--secondary" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="button button--primary" disabled={submitting}>
          Create API key
        </button>
      </div>
    </form>
  );
}
