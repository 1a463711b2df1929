/**
 * Every mutation answers expected problems as `userErrors { field message code }`, `field` being
 * the path inside the mutation's `input` (e.g. `["note"]`, `["customModels", "2"]`). This is the one
 * place that turns them into messages next to form fields.
 */

export type UserErrorLike = {
  field?: ReadonlyArray<string> | null;
  message: string;
};

export type FieldErrors<F extends string> = {
  /** The message to show under each field (several for one field are joined). */
  fields: Partial<Record<F, string>>;
  /** Errors about an item of a list field, by index: `customModels.2` -> items.customModels[2]. */
  items: Partial<Record<F, Record<number, string>>>;
  /** Errors about the whole input, or about a field this form does not show. */
  form: string[];
};

export function emptyFieldErrors<F extends string>(): FieldErrors<F> {
  return { fields: {}, items: {}, form: [] };
}

export function hasErrors<F extends string>(errors: FieldErrors<F>): boolean {
  return Object.keys(errors.fields).length > 0 || errors.form.length > 0;
}

/**
 * Map `userErrors` onto the fields a form shows. An error whose field the form does not know
 * still appears (as a form error): nothing the server says is dropped.
 *
 * `prefix` is where the form's fields sit inside the input: a policy form's errors come as
 * `["policy", "allowedIps", "1"]`, and with the prefix `["policy"]` land on `allowedIps`.
 */
export function mapUserErrors<F extends string>(
  userErrors: ReadonlyArray<UserErrorLike>,
  formFields: ReadonlyArray<F>,
  prefix: ReadonlyArray<string> = [],
): FieldErrors<F> {
  const result = emptyFieldErrors<F>();
  for (const error of userErrors) {
    const path = error.field ?? [];
    const inside = prefix.every((part, i) => path[i] === part);
    const [head, index] = inside ? path.slice(prefix.length) : [];
    const field = formFields.find((name) => name === head);
    if (field === undefined) {
      result.form.push(error.message);
      continue;
    }
    const previous = result.fields[field];
    result.fields[field] = previous ? `${previous} ${error.message}` : error.message;
    if (index !== undefined && /^\d+$/.test(index)) {
      const items = (result.items[field] ??= {});
      items[Number(index)] = error.message;
    }
  }
  return result;
}

/** Merge the browser-side checks of a form with nothing else: the same shape as userErrors. */
export function fieldErrors<F extends string>(fields: Partial<Record<F, string>>): FieldErrors<F> {
  const result = emptyFieldErrors<F>();
  for (const [name, message] of Object.entries(fields) as Array<[F, string | undefined]>) {
    if (message) result.fields[name] = message;
  }
  return result;
}
