import { graphql } from "../../gql";
import { useFormMutation } from "../../graphql/mutation";

const DeleteApiKeyMutation = graphql(`
  mutation DeleteApiKey($input: DeleteApiKeyInput!) {
    deleteApiKey(input: $input) {
      deletedApiKeyId
      userErrors {
        field
        message
        code
      }
    }
  }
`);

export function useDeleteApiKey() {
  // The deleted key's list must refetch: the payload holds only its id.
  return useFormMutation(DeleteApiKeyMutation, (data) => data.deleteApiKey, [], ["ApiKey"]);
}
