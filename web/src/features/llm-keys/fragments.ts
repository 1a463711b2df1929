import { graphql } from "../../gql";

export const LlmApiKeyFields = graphql(`
  fragment LlmApiKeyFields on LlmApiKey {
    id
    provider
    secretHint
    customModels
    withDefaultModels
    createdAt
    updatedAt
    models {
      id
      source
    }
  }
`);
