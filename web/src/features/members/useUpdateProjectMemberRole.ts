import { graphql } from "../../gql";
import { useFormMutation } from "../../graphql/mutation";

const UpdateProjectMemberRoleMutation = graphql(`
  mutation UpdateProjectMemberRole($input: UpdateProjectMemberRoleInput!) {
    updateProjectMemberRole(input: $input) {
      member {
        ...MemberFields
      }
      userErrors {
        field
        message
        code
      }
    }
  }
`);

export const CHANGE_ROLE_FIELDS = ["role"] as const;

/** A role change can be the viewer's own: the project (and what the viewer may do) refetches too. */
export function useUpdateProjectMemberRole() {
  return useFormMutation(
    UpdateProjectMemberRoleMutation,
    (data) => data.updateProjectMemberRole,
    CHANGE_ROLE_FIELDS,
    ["ProjectMember", "Project"],
  );
}
