import { graphql } from "../../gql";
import { useFormMutation } from "../../graphql/mutation";

const SendTestWebhookMutation = graphql(`
  mutation SendTestWebhook($input: WebhookIdInput!) {
    sendTestWebhook(input: $input) {
      delivery {
        ...WebhookDeliveryFields
      }
      userErrors {
        field
        message
        code
      }
    }
  }
`);

/** Queue a `webhook.test` delivery (tried once); the delivery log refetches and shows it. */
export function useSendTestWebhook() {
  return useFormMutation(SendTestWebhookMutation, (data) => data.sendTestWebhook, [], ["WebhookDelivery"]);
}
