import { graphql } from "../../gql";
import { useFormMutation } from "../../graphql/mutation";

const AddLlmApiKeyMutation = graphql(`
  mutation AddLlmApiKey($input: AddLlmApiKeyInput!) {
    addLlmApiKey(input: $input) {
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

export const ADD_LLM_KEY_FIELDS = ["provider", "secretKey", "customModels", "withDefaultModels"] as const;

export function useAddLlmApiKey() {
  return useFormMutation(AddLlmApiKeyMutation, (data) => data.addLlmApiKey, ADD_LLM_KEY_FIELDS, ["LlmApiKey"]);
}
