import { useEffect, useMemo, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { useQuery } from "urql";

import { ErrorBanner } from "../../components/ErrorBanner";
import { Loading } from "../../components/Notice";
import { graphql } from "../../gql";
import { describeFailure } from "../../graphql/errors";
import { useProject } from "../projects/ProjectLayout";
import { BudgetMeters } from "./BudgetMeters";
import { hasTraffic } from "./chartData";
import { RangePicker } from "./RangePicker";
import {
  customRange,
  datesOf,
  parseChoice,
  parseGranularity,
  presetRange,
  type CustomRange,
  type RangeChoice,
  type UsageRange,
} from "./range";
import { preloadUsageCharts, UsageCharts } from "./LazyUsageCharts";
import { useUsageSeries } from "./useUsageSeries";

const UsageKeysQuery = graphql(`
  query UsageKeys($projectId: ID!, $keyId: ID!, $withKey: Boolean!) {
    project(id: $projectId) {
      id
      apiKeys(first: 100) {
        totalCount
        edges {
          node {
            id
            note
            start
          }
        }
      }
      budgetUsage {
        ...BudgetUsageFields
      }
      selectedKey: apiKey(id: $keyId) @include(if: $withKey) {
        id
        note
        start
        budgetUsage {
          ...BudgetUsageFields
        }
      }
    }
  }
`);

/** The first chart drawn, for measuring how soon the page shows its data. */
export const FIRST_DRAW_MARK = "usage-chart-drawn";

function markFirstDraw() {
  if (performance.getEntriesByName(FIRST_DRAW_MARK).length === 0) performance.mark(FIRST_DRAW_MARK);
}

export function UsagePage() {
  const project = useProject();
  useEffect(preloadUsageCharts, []);
  const [params, setParams] = useSearchParams();
  const choice = parseChoice(params.get("range"));
  const keyId = params.get("key");
  // The presets end at the bucket "now" is in; now is when the page opened.
  const [now] = useState(() => new Date());
  const custom: CustomRange = {
    ...datesOf(presetRange("7d", now)),
    ...(params.get("from") ? { from: params.get("from") ?? "" } : {}),
    ...(params.get("to") ? { to: params.get("to") ?? "" } : {}),
    granularity: parseGranularity(params.get("by")),
  };
  const range: UsageRange | null = useMemo(() => {
    if (choice !== "custom") return presetRange(choice, now);
    const checked = customRange(custom);
    return checked.ok ? checked.range : null;
    // `custom` is rebuilt from the URL on every render: its parts are the dependencies.
  }, [choice, now, custom.from, custom.to, custom.granularity]);

  const usage = useUsageSeries(project.id, range, keyId);
  const [keys] = useQuery({
    query: UsageKeysQuery,
    variables: { projectId: project.id, keyId: keyId ?? "", withKey: keyId !== null },
  });
  const keyOptions = keys.data?.project?.apiKeys.edges.map((edge) => edge.node) ?? [];
  const selected = keys.data?.project?.selectedKey ?? null;
  if (selected && !keyOptions.some((key) => key.id === selected.id)) keyOptions.push(selected);

  function update(changes: Record<string, string | null>) {
    setParams(
      (current) => {
        const next = new URLSearchParams(current);
        for (const [name, value] of Object.entries(changes)) {
          if (value) next.set(name, value);
          else next.delete(name);
        }
        return next;
      },
      { replace: true },
    );
  }

  function choose(next: RangeChoice) {
    update(next === "custom" ? { range: next, from: custom.from, to: custom.to, by: custom.granularity } : { range: next, from: null, to: null, by: null });
  }

  const series = usage.series;
  const scope = selected ? `“${selected.note}”` : "this project’s keys";

  return (
    <>
      <header className="page-header">
        <h1 className="page-header__title">Usage</h1>
        <p className="page-header__lead">
          Requests made with {scope}, their errors, tokens and spend. Recorded within seconds;
          days are UTC days.
        </p>
      </header>

      <div className="toolbar toolbar--usage">
        <RangePicker
          choice={choice}
          custom={custom}
          onChoose={choose}
          onApplyCustom={(next) => update({ range: "custom", from: next.from, to: next.to, by: next.granularity })}
          refusal={usage.refusal}
        />
        <div className="toolbar__filter">
          <label className="toolbar__filter-label" htmlFor="usage-key">
            API key
          </label>
          <select id="usage-key" className="input select" value={keyId ?? ""} onChange={(event) => update({ key: event.target.value })}>
            <option value="">All keys</option>
            {keyOptions.map((key) => (
              <option key={key.id} value={key.id}>
                {key.note} ({key.start}…)
              </option>
            ))}
          </select>
        </div>
      </div>

      {usage.failure && <ErrorBanner failure={usage.failure} onRetry={usage.retry} />}
      {keys.error && <ErrorBanner failure={describeFailure(keys.error)} />}
      {usage.fetching && !series && range && <Loading label="Loading usage…" />}

      {series && range && !hasTraffic(series.totals) && (
        <div className="empty">
          <p className="empty__title">No requests in {range.label}</p>
          <p>
            {selected
              ? "This key was not used in this range. Choose another range, or all keys."
              : "None of this project’s keys was used in this range. Requests show here within seconds."}
          </p>
        </div>
      )}
      {series && range && hasTraffic(series.totals) && (
        <UsageCharts points={series.points} totals={series.totals} granularity={range.granularity}
          rangeLabel={range.label} onDrawn={markFirstDraw} />
      )}

      {keys.data?.project && (
        <section className="panel" aria-labelledby="usage-budgets">
          <h2 className="panel__title" id="usage-budgets">
            Budgets
          </h2>
          {selected && (
            <div className="panel__part">
              <h3 className="panel__subtitle">This key</h3>
              <BudgetMeters usage={selected.budgetUsage} none="This key has no budget of its own." />
            </div>
          )}
          <div className="panel__part">
            <h3 className="panel__subtitle">The project</h3>
            <BudgetMeters usage={keys.data.project.budgetUsage}
              none="The project has no budget: every key may spend without a project-wide limit." />
          </div>
          <p className="panel__footer">
            Budgets are set on the <Link to={`/projects/${project.id}/settings/api-keys`}>API keys</Link> page
            (the project’s) and on each key’s page.
          </p>
        </section>
      )}
    </>
  );
}
