import { graphql } from "../../gql";
import { useFormMutation } from "../../graphql/mutation";

const AddWebhookMutation = graphql(`
  mutation AddWebhook($input: AddWebhookInput!) {
    addWebhook(input: $input) {
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

export const WEBHOOK_FORM_FIELDS = ["url", "events"] as const;

/** Register an endpoint; its signing secret is in the payload this once. */
export function useAddWebhook() {
  return useFormMutation(AddWebhookMutation, (data) => data.addWebhook, WEBHOOK_FORM_FIELDS, ["Webhook"]);
}
