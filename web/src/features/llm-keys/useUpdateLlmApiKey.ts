import { graphql } from "../../gql";
import { useFormMutation } from "../../graphql/mutation";

const UpdateLlmApiKeyMutation = graphql(`
  mutation UpdateLlmApiKey($input: UpdateLlmApiKeyInput!) {
    updateLlmApiKey(input: $input) {
      llmApiKey {
        ...LlmApiKeyFields
      }
      userErrors {
        field
        message
        code
      }
    }
  }
`);

export const UPDATE_LLM_KEY_FIELDS = ["secretKey", "customModels", "withDefaultModels"] as const;

/** Replace the secret, or the models, in place: absent fields stay as they are. */
export function useUpdateLlmApiKey() {
  return useFormMutation(UpdateLlmApiKeyMutation, (data) => data.updateLlmApiKey, UPDATE_LLM_KEY_FIELDS);
}
