import { graphql } from "../../gql";
import { useFormMutation } from "../../graphql/mutation";
import { POLICY_FIELDS } from "./policy";

const UpdateApiKeyPolicyMutation = graphql(`
  mutation UpdateApiKeyPolicy($input: UpdateApiKeyPolicyInput!) {
    updateApiKeyPolicy(input: $input) {
      apiKey {
        id
        policy {
          ...ApiKeyPolicyFields
        }
      }
      userErrors {
        field
        message
        code
      }
    }
  }
`);

/** Replaces the whole policy; its errors name fields inside `policy`, e.g. ["policy", "allowedIps", "1"]. */
export function useUpdateApiKeyPolicy() {
  return useFormMutation(
    UpdateApiKeyPolicyMutation,
    (data) => data.updateApiKeyPolicy,
    POLICY_FIELDS,
    ["ApiKey"],
    ["policy"],
  );
}
