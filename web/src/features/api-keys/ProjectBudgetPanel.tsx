import { useState, type FormEvent } from "react";
import { useQuery } from "urql";

import { ErrorBanner, FormErrors } from "../../components/ErrorBanner";
import { graphql } from "../../gql";
import type { ProjectBudgetQuery } from "../../gql/graphql";
import { describeFailure } from "../../graphql/errors";
import { BudgetMeters } from "../usage/BudgetMeters";
import { BudgetFields } from "./BudgetFields";
import { budgetValues, checkBudgets, type BudgetField, type BudgetValues } from "./policy";
import { useUpdateProjectBudget } from "./useUpdateProjectBudget";

const ProjectBudgetQuery = graphql(`
  query ProjectBudget($projectId: ID!) {
    project(id: $projectId) {
      id
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
      budgetUsage {
        ...BudgetUsageFields
      }
    }
  }
`);

type Budget = NonNullable<ProjectBudgetQuery["project"]>["budget"];

type ProjectBudgetPanelProps = {
  projectId: string;
  canManage: boolean;
  readOnlyReasonId: string;
};

/** The project's own budgets, which every key's requests count against, and what they used. */
export function ProjectBudgetPanel({ projectId, canManage, readOnlyReasonId }: ProjectBudgetPanelProps) {
  const [editing, setEditing] = useState(false);
  const [result] = useQuery({ query: ProjectBudgetQuery, variables: { projectId } });
  const project = result.data?.project;

  return (
    <section className="panel" id="project-budget" aria-labelledby="project-budget-title">
      <div className="panel__header">
        <h2 className="panel__title" id="project-budget-title">
          Project budget
        </h2>
        {!editing && (
          <button type="button" className="button button--secondary button--small" disabled={!canManage || !project}
            aria-describedby={canManage ? undefined : readOnlyReasonId} onClick={() => setEditing(true)}>
            Edit budget
          </button>
        )}
      </div>
      <p className="muted panel__lead">
        Every key’s requests count against it, together with the key’s own budget. A request that
        would go past either is refused with 429.
      </p>
      {result.error && <ErrorBanner failure={describeFailure(result.error)} />}
      {project && !editing && <BudgetMeters usage={project.budgetUsage} none="No budget: the project’s keys may spend without a project-wide limit." />}
      {project && editing && <BudgetForm projectId={projectId} budget={project.budget} onDone={() => setEditing(false)} />}
    </section>
  );
}

function BudgetForm({ projectId, budget, onDone }: { projectId: string; budget: Budget; onDone: () => void }) {
  const update = useUpdateProjectBudget();
  const [values, setValues] = useState<BudgetValues>(() => budgetValues(budget.tokenBudget, budget.spendBudgetUsd));
  const [checks, setChecks] = useState<Partial<Record<BudgetField, string>>>({});

  async function submit(event: FormEvent) {
    event.preventDefault();
    const check = checkBudgets(values);
    setChecks(check.ok ? {} : check.fields);
    if (!check.ok) return;
    const outcome = await update.run({ input: { projectId, ...check.input } });
    if (outcome.ok) onDone();
  }

  const failed = update.outcome?.ok === false ? update.outcome : null;
  const hasChecks = Object.keys(checks).length > 0;
  return (
    <form className="form" onSubmit={(event) => void submit(event)} noValidate aria-label="Project budget">
      {failed?.failure && <ErrorBanner failure={failed.failure} />}
      <FormErrors messages={hasChecks ? [] : (failed?.errors.form ?? [])} />
      <BudgetFields values={values} onChange={setValues}
        errors={hasChecks ? checks : (failed?.errors.fields ?? {})} />
      <div className="form__actions">
        <button type="button" className="button button--secondary" onClick={onDone}>
          Cancel
        </button>
        <button type="submit" className="button button--primary" disabled={update.fetching}>
          Save budget
        </button>
      </div>
    </form>
  );
}
