import { graphql } from "../../gql";
import { useFormMutation } from "../../graphql/mutation";

const CreateProjectMutation = graphql(`
  mutation CreateProject($input: CreateProjectInput!) {
    createProject(input: $input) {
      project {
        id
        name
        viewerRole
        createdAt
      }
      userErrors {
        field
        message
        code
      }
    }
  }
`);

export const CREATE_PROJECT_FIELDS = ["name"] as const;

export function useCreateProject() {
  return useFormMutation(CreateProjectMutation, (data) => data.createProject, CREATE_PROJECT_FIELDS, ["Project"]);
}
