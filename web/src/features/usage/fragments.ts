import { graphql } from "../../gql";

/** One bucket of a usage series. */
export const UsagePointFields = graphql(`
  fragment UsagePointFields on UsagePoint {
    start
    requests
    errors
    inputTokens
    outputTokens
    spendUsd
    unpricedTokens
  }
`);

/** Where a key's or the project's budgets stand this period. */
export const BudgetUsageFields = graphql(`
  fragment BudgetUsageFields on BudgetUsage {
    tokens {
      limit
      used
      period
      resetsAt
    }
    spendUsd {
      limit
      used
      unpricedTokens
      period
      resetsAt
    }
  }
`);
