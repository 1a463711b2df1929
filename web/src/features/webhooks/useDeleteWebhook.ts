import { graphql } from "../../gql";
import { useFormMutation } from "../../graphql/mutation";

const DeleteWebhookMutation = graphql(`
  mutation DeleteWebhook($input: WebhookIdInput!) {
    deleteWebhook(input: $input) {
      deletedWebhookId
      userErrors {
        field
        message
        code
      }
    }
  }
`);

/** The payload holds only the id: the list refetches. */
export function useDeleteWebhook() {
  return useFormMutation(DeleteWebhookMutation, (data) => data.deleteWebhook, [], ["Webhook"]);
}
