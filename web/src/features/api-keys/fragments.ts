import { graphql } from "../../gql";

/** What one row of the keys table shows. */
export const ApiKeyRowFields = graphql(`
  fragment ApiKeyRowFields on ApiKey {
    id
    note
    start
    status
    createdAt
    expiresAt
    lastUsedAt
    rotationDue
    expiresSoon
    usage24h {
      requests
      errors
      lastUsedAt
    }
  }
`);

/** What a key may do, as its page shows and edits it. */
export const ApiKeyPolicyFields = graphql(`
  fragment ApiKeyPolicyFields on ApiKeyPolicy {
    scopes
    allowedModels
    allowedIps
    requestsPerMinute
    tokensPerMinute
    maxConcurrentRequests
    tokenBudget {
      limit
      period
    }
    spendBudgetUsd {
      limit
      period
    }
  }
`);
