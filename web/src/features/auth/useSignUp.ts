import { graphql } from "../../gql";
import { useFormMutation } from "../../graphql/mutation";

const SignUpMutation = graphql(`
  mutation SignUp($input: SignUpInput!) {
    signUp(input: $input) {
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

export const SIGN_UP_FIELDS = ["name", "email", "password"] as const;

export function useSignUp() {
  return useFormMutation(SignUpMutation, (data) => data.signUp, SIGN_UP_FIELDS);
}
