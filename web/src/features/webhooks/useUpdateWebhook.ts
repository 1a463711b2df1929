import { graphql } from "../../gql";
import { useFormMutation } from "../../graphql/mutation";

const UpdateWebhookMutation = graphql(`
  mutation UpdateWebhook($input: UpdateWebhookInput!) {
    updateWebhook(input: $input) {
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

export const UPDATE_WEBHOOK_FIELDS = ["url", "events", "enabled"] as const;

/** Change the URL, the events or the enabled state; disabling fails the pending deliveries. */
export function useUpdateWebhook() {
  return useFormMutation(UpdateWebhookMutation, (data) => data.updateWebhook, UPDATE_WEBHOOK_FIELDS, [
    "Webhook",
    "WebhookDelivery",
  ]);
}
