import { graphql } from "../../gql";
import { useFormMutation } from "../../graphql/mutation";

const CreateApiKeyMutation = graphql(`
  mutation CreateApiKey($input: CreateApiKeyInput!) {
    createApiKey(input: $input) {
      secret
      apiKey {
        ...ApiKeyRowFields
      }
      userErrors {
        field
        message
        code
      }
    }
  }
`);

export const CREATE_API_KEY_FIELDS = ["note", "expiresAt"] as const;

export function useCreateApiKey() {
  return useFormMutation(CreateApiKeyMutation, (data) => data.createApiKey, CREATE_API_KEY_FIELDS, ["ApiKey"]);
}
