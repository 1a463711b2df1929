import { useCallback, useState } from "react";
import { useMutation, type AnyVariables, type TypedDocumentNode } from "urql";

import { describeFailure, type Failure } from "./errors";
import { mapUserErrors, type FieldErrors, type UserErrorLike } from "./userErrors";

export type MutationOutcome<P, F extends string> =
  | { ok: true; payload: P }
  | { ok: false; errors: FieldErrors<F>; failure: Failure | null };

type PayloadWithErrors = { userErrors: ReadonlyArray<UserErrorLike> };

/**
 * One typed mutation, the way every action of the console runs it: userErrors become field
 * errors of the form, anything unexpected becomes a `Failure` carrying the request id.
 *
 * `pick` chooses the payload in the result (e.g. `data => data.createApiKey`); `typenames` are the
 * types whose cached lists must refetch afterwards (urql's document cache cannot tell that a
 * deletion or a creation into an empty list changed them).
 */
export function useFormMutation<D, V extends AnyVariables, P extends PayloadWithErrors, F extends string>(
  document: TypedDocumentNode<D, V>,
  pick: (data: D) => P,
  formFields: ReadonlyArray<F>,
  typenames: string[] = [],
  /** Where the form's fields sit inside the input (see mapUserErrors). */
  prefix: ReadonlyArray<string> = [],
) {
  const [state, execute] = useMutation(document);
  const [outcome, setOutcome] = useState<MutationOutcome<P, F> | null>(null);

  const run = useCallback(
    async (variables: V): Promise<MutationOutcome<P, F>> => {
      const result = await execute(variables, { additionalTypenames: typenames });
      let next: MutationOutcome<P, F>;
      if (result.error || !result.data) {
        next = {
          ok: false,
          errors: mapUserErrors<F>([], formFields),
          failure: result.error
            ? describeFailure(result.error)
            : { message: "The service sent an empty answer.", requestId: null },
        };
      } else {
        const payload = pick(result.data);
        next =
          payload.userErrors.length > 0
            ? { ok: false, errors: mapUserErrors(payload.userErrors, formFields, prefix), failure: null }
            : { ok: true, payload };
      }
      setOutcome(next);
      return next;
    },
    // The document, picker and field list are constants of the calling hook.
    [execute],
  );

  const reset = useCallback(() => setOutcome(null), []);
  return { run, reset, fetching: state.fetching, outcome };
}
