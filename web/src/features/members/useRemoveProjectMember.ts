import { graphql } from "../../gql";
import { useFormMutation } from "../../graphql/mutation";

const RemoveProjectMemberMutation = graphql(`
  mutation RemoveProjectMember($input: RemoveProjectMemberInput!) {
    removeProjectMember(input: $input) {
      removedUserId
      userErrors {
        field
        message
        code
      }
    }
  }
`);

/** The payload holds only the id: the members list (and the project, if it was the viewer) refetch. */
export function useRemoveProjectMember() {
  return useFormMutation(RemoveProjectMemberMutation, (data) => data.removeProjectMember, [], [
    "ProjectMember",
    "Project",
  ]);
}
