import { graphql } from "../../gql";
import { useFormMutation } from "../../graphql/mutation";

const UpdateApiKeyNoteMutation = graphql(`
  mutation UpdateApiKeyNote($input: UpdateApiKeyNoteInput!) {
    updateApiKeyNote(input: $input) {
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

export const UPDATE_NOTE_FIELDS = ["note"] as const;

export function useUpdateApiKeyNote() {
  return useFormMutation(UpdateApiKeyNoteMutation, (data) => data.updateApiKeyNote, UPDATE_NOTE_FIELDS);
}
