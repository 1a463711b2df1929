import { graphql } from "../../gql";
import { useFormMutation } from "../../graphql/mutation";

const RotateWebhookSecretMutation = graphql(`
  mutation RotateWebhookSecret($input: WebhookIdInput!) {
    rotateWebhookSecret(input: $input) {
      secret
      webhook {
        ...WebhookFields
      }
      userErrors {
        field
        message
        code
      }
    }
  }
`);

/** A new signing secret, shown once; the previous one signs too for 24 hours. */
export function useRotateWebhookSecret() {
  return useFormMutation(RotateWebhookSecretMutation, (data) => data.rotateWebhookSecret, [], ["Webhook"]);
}
