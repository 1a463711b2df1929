import { graphql } from "../../gql";

export const WebhookFields = graphql(`
  fragment WebhookFields on Webhook {
    id
    url
    events
    enabled
    createdAt
    updatedAt
    failingSince
    disabledAt
    disabledReason
    previousSecretValidUntil
  }
`);

export const WebhookDeliveryFields = graphql(`
  fragment WebhookDeliveryFields on WebhookDelivery {
    id
    messageId
    event
    status
    attempts
    nextAttemptAt
    lastAttemptAt
    responseStatus
    responseTimeMs
    error
    createdAt
    deliveredAt
  }
`);
