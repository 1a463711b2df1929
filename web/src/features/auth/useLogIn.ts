import { graphql } from "../../gql";
import { useFormMutation } from "../../graphql/mutation";

const LogInMutation = graphql(`
  mutation LogIn($input: LogInInput!) {
    logIn(input: $input) {
      accessToken
      accessTokenExpiresAt
      user {
        id
        email
        name
      }
      userErrors {
        field
        message
        code
      }
    }
  }
`);

export const LOG_IN_FIELDS = ["email", "password"] as const;

export function useLogIn() {
  return useFormMutation(LogInMutation, (data) => data.logIn, LOG_IN_FIELDS);
}
