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
