import { graphql } from "../../gql";
import { useFormMutation } from "../../graphql/mutation";

const RotateApiKeyMutation = graphql(`
  mutation RotateApiKey($input: RotateApiKeyInput!) {
    rotateApiKey(input: $input) {
      secret
      apiKey {
        ...ApiKeyRowFields
      }
      previousApiKey {
        id
        note
        start
        expiresAt
      }
      userErrors {
        field
        message
        code
      }
    }
  }
`);

export const ROTATE_FIELDS = ["gracePeriodSeconds", "expiresAt"] as const;

/** A new key with the same note and policy; the old one works for the grace period, then stops. */
export function useRotateApiKey() {
  return useFormMutation(RotateApiKeyMutation, (data) => data.rotateApiKey, ROTATE_FIELDS, ["ApiKey"]);
}
