import { graphql } from "../../gql";
import { useFormMutation } from "../../graphql/mutation";

const AddProjectMemberMutation = graphql(`
  mutation AddProjectMember($input: AddProjectMemberInput!) {
    addProjectMember(input: $input) {
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

export const ADD_MEMBER_FIELDS = ["email", "role"] as const;

export function useAddProjectMember() {
  return useFormMutation(AddProjectMemberMutation, (data) => data.addProjectMember, ADD_MEMBER_FIELDS, ["ProjectMember"]);
}
