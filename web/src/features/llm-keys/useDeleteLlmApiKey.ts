import { graphql } from "../../gql";
import { useFormMutation } from "../../graphql/mutation";

const DeleteLlmApiKeyMutation = graphql(`
  mutation DeleteLlmApiKey($input: DeleteLlmApiKeyInput!) {
    deleteLlmApiKey(input: $input) {
      deletedLlmApiKeyId
      userErrors {
        field
        message
        code
      }
    }
  }
`);

export function useDeleteLlmApiKey() {
  return useFormMutation(DeleteLlmApiKeyMutation, (data) => data.deleteLlmApiKey, [], ["LlmApiKey"]);
}
