import { graphql } from "../../gql";

export const SecurityAlertFields = graphql(`
  fragment SecurityAlertFields on SecurityAlert {
    id
    kind
    apiKeyId
    windowStart
    windowEnd
    evidence
    createdAt
    acknowledgedAt
    apiKey {
      id
      note
      start
    }
  }
`);
