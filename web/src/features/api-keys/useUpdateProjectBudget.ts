import { graphql } from "../../gql";
import { useFormMutation } from "../../graphql/mutation";
import { BUDGET_FIELDS } from "./policy";

const UpdateProjectBudgetMutation = graphql(`
  mutation UpdateProjectBudget($input: UpdateProjectBudgetInput!) {
    updateProjectBudget(input: $input) {
      budget {
        tokenBudget {
          limit
          period
        }
        spendBudgetUsd {
          limit
          period
        }
      }
      userErrors {
        field
        message
        code
      }
    }
  }
`);

/** Replaces the project's budgets; what they have used (BudgetUsage) refetches with them. */
export function useUpdateProjectBudget() {
  return useFormMutation(UpdateProjectBudgetMutation, (data) => data.updateProjectBudget, BUDGET_FIELDS, [
    "ProjectBudget",
    "BudgetUsage",
  ]);
}
