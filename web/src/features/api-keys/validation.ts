import { localInputToUtc } from "../../lib/dates";

export type ApiKeyFormField = "note" | "expiresAt";

export type ApiKeyFormValues = { note: string; expiresAt: string };

export type ApiKeyFormCheck =
  | { ok: true; input: { note: string; expiresAt: string | null } }
  | { ok: false; fields: Partial<Record<ApiKeyFormField, string>> };

/**
 * What the browser can tell before sending: a note is needed, and the expiry must be a date. Both
 * are reported at once, like the service does; limits (length, a past date) are the service's.
 */
export function checkApiKeyForm(values: ApiKeyFormValues): ApiKeyFormCheck {
  const fields: Partial<Record<ApiKeyFormField, string>> = {};
  if (values.note.trim() === "") {
    fields.note = "Enter a note that says where the key is used, e.g. Production backend.";
  }
  const expiry = localInputToUtc(values.expiresAt);
  if (!expiry.ok) fields.expiresAt = expiry.message;
  if (Object.keys(fields).length > 0 || !expiry.ok) return { ok: false, fields };
  return { ok: true, input: { note: values.note.trim(), expiresAt: expiry.value } };
}

export function checkNote(note: string): string | null {
  return note.trim() === "" ? "Enter a note." : null;
}
