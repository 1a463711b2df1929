import { useId, useMemo, useState } from "react";

import { Table } from "../../components/Table";
import { TimeChart, type ChartSeries } from "../../components/TimeChart";
import type { UsageGranularity, UsagePointFieldsFragment } from "../../gql/graphql";
import { formatCompact, formatCount, formatPercent, formatUsd } from "../../lib/numbers";
import { bucketLabel, busiest, chartColumns, errorRate, tickLabel } from "./chartData";

type UsageChartsProps = {
  points: ReadonlyArray<UsagePointFieldsFragment>;
  totals: UsagePointFieldsFragment;
  granularity: UsageGranularity;
  /** "the last 24 hours" */
  rangeLabel: string;
  /** Only the requests chart (the key page's 24 hours). */
  compact?: boolean;
  onDrawn?: () => void;
};

const COLORS = { requests: "#2f4fb5", errors: "#c0392b", input: "#2f4fb5", output: "#1d8a6b", spend: "#7a4b00" };

/** Requests and errors, tokens and spend over a range, each chart with its text alternative. */
export function UsageCharts({ points, totals, granularity, rangeLabel, compact = false, onDrawn }: UsageChartsProps) {
  const headingId = useId();
  const columns = useMemo(() => chartColumns(points), [points]);
  const step = granularity === "HOUR" ? 3600 : 86_400;
  const xFormat = useMemo(() => (seconds: number) => tickLabel(seconds, granularity), [granularity]);
  const unit = granularity === "HOUR" ? "hour" : "day";
  const label = (index: number) => {
    const point = points[index];
    return point ? bucketLabel(point.start, granularity) : "";
  };

  const requestSeries = useMemo<ChartSeries[]>(
    () => [
      { label: "Requests", values: columns.requests, color: COLORS.requests, kind: "bars", format: formatCount },
      { label: "Errors", values: columns.errors, color: COLORS.errors, kind: "bars", format: formatCount },
    ],
    [columns],
  );
  const tokenSeries = useMemo<ChartSeries[]>(
    () => [
      { label: "Input tokens", values: columns.inputTokens, color: COLORS.input, kind: "line", format: formatCount },
      { label: "Output tokens", values: columns.outputTokens, color: COLORS.output, kind: "line", format: formatCount },
    ],
    [columns],
  );
  const spendSeries = useMemo<ChartSeries[]>(
    () => [{ label: "Spend (USD)", values: columns.spend, color: COLORS.spend, kind: "bars", format: formatDollars }],
    [columns],
  );

  const peak = busiest(points);
  const requestsSummary =
    `Requests and errors by ${unit} over ${rangeLabel}: ${formatCount(totals.requests)} requests and ` +
    `${formatCount(totals.errors)} errors in all` +
    (peak ? `; the busiest ${unit} was ${bucketLabel(peak.start, granularity)} with ${formatCount(peak.requests)} requests.` : ".");
  const tokensSummary =
    `Tokens by ${unit} over ${rangeLabel}: ${formatCount(totals.inputTokens)} input and ` +
    `${formatCount(totals.outputTokens)} output tokens in all.`;
  const spendSummary = `Spend by ${unit} over ${rangeLabel}: ${formatUsd(totals.spendUsd)} in all.`;

  return (
    <div className="usage-charts">
      {!compact && <UsageTotals totals={totals} />}
      <section className="chart-panel" aria-labelledby={`${headingId}-requests`}>
        <h2 className="chart-panel__title" id={`${headingId}-requests`}>
          Requests and errors
        </h2>
        <TimeChart x={columns.x} step={step} utc={granularity === "DAY"} series={requestSeries} summary={requestsSummary}
          yFormat={formatCompact} xFormat={xFormat} bucketLabel={label} onDrawn={onDrawn} height={compact ? 180 : 220} />
      </section>
      {!compact && (
        <div className="chart-grid">
          <section className="chart-panel" aria-labelledby={`${headingId}-tokens`}>
            <h2 className="chart-panel__title" id={`${headingId}-tokens`}>
              Tokens
            </h2>
            <TimeChart x={columns.x} step={step} utc={granularity === "DAY"} series={tokenSeries} summary={tokensSummary}
              yFormat={formatCompact} xFormat={xFormat} bucketLabel={label} height={180} />
          </section>
          <section className="chart-panel" aria-labelledby={`${headingId}-spend`}>
            <h2 className="chart-panel__title" id={`${headingId}-spend`}>
              Spend
            </h2>
            <TimeChart x={columns.x} step={step} utc={granularity === "DAY"} series={spendSeries} summary={spendSummary}
              yFormat={formatDollars} xFormat={xFormat} bucketLabel={label} height={180} />
          </section>
        </div>
      )}
      <NumbersTable points={points} totals={totals} granularity={granularity} rangeLabel={rangeLabel} />
    </div>
  );
}

function formatDollars(value: number): string {
  return value === 0 ? "$0" : value < 0.01 ? `$${value.toPrecision(2)}` : `$${formatCompact(value)}`;
}

function UsageTotals({ totals }: { totals: UsagePointFieldsFragment }) {
  const rate = errorRate(totals);
  return (
    <dl className="stats">
      <div className="stats__item">
        <dt>Requests</dt>
        <dd>{formatCount(totals.requests)}</dd>
      </div>
      <div className="stats__item">
        <dt>Errors</dt>
        <dd>
          {formatCount(totals.errors)}
          {rate !== null && <span className="stats__detail"> ({formatPercent(rate)})</span>}
        </dd>
      </div>
      <div className="stats__item">
        <dt>Input tokens</dt>
        <dd>{formatCount(totals.inputTokens)}</dd>
      </div>
      <div className="stats__item">
        <dt>Output tokens</dt>
        <dd>{formatCount(totals.outputTokens)}</dd>
      </div>
      <div className="stats__item">
        <dt>Spend</dt>
        <dd>
          {formatUsd(totals.spendUsd)}
          {totals.unpricedTokens > 0 && (
            <span className="stats__detail"> + {formatCount(totals.unpricedTokens)} unpriced tokens</span>
          )}
        </dd>
      </div>
    </dl>
  );
}

type NumbersTableProps = {
  points: ReadonlyArray<UsagePointFieldsFragment>;
  totals: UsagePointFieldsFragment;
  granularity: UsageGranularity;
  rangeLabel: string;
};

/** The charts' numbers, every bucket of them; built only when opened (a month of hours is 720 rows). */
function NumbersTable({ points, totals, granularity, rangeLabel }: NumbersTableProps) {
  const [open, setOpen] = useState(false);
  const bucket = granularity === "HOUR" ? "Hour" : "Day (UTC)";
  return (
    <details className="numbers" onToggle={(event) => setOpen(event.currentTarget.open)}>
      <summary className="numbers__summary">Show the numbers as a table</summary>
      {open && (
        <Table
          caption={`Usage by ${granularity === "HOUR" ? "hour" : "day"} over ${rangeLabel}`}
          head={
            <tr>
              <th scope="col">{bucket}</th>
              <th scope="col" className="cell-number">Requests</th>
              <th scope="col" className="cell-number">Errors</th>
              <th scope="col" className="cell-number">Input tokens</th>
              <th scope="col" className="cell-number">Output tokens</th>
              <th scope="col" className="cell-number">Spend</th>
              <th scope="col" className="cell-number">Unpriced tokens</th>
            </tr>
          }
        >
          {points.map((point) => (
            <NumbersRow key={point.start} label={bucketLabel(point.start, granularity)} point={point} />
          ))}
          <NumbersRow label="Total" point={totals} total />
        </Table>
      )}
    </details>
  );
}

function NumbersRow({ label, point, total = false }: { label: string; point: UsagePointFieldsFragment; total?: boolean }) {
  return (
    <tr className={total ? "table__row--total" : undefined}>
      <th scope="row" data-label="" className="cell-bucket">{label}</th>
      <td data-label="Requests" className="cell-number">{formatCount(point.requests)}</td>
      <td data-label="Errors" className="cell-number">{formatCount(point.errors)}</td>
      <td data-label="Input tokens" className="cell-number">{formatCount(point.inputTokens)}</td>
      <td data-label="Output tokens" className="cell-number">{formatCount(point.outputTokens)}</td>
      <td data-label="Spend" className="cell-number">{formatUsd(point.spendUsd)}</td>
      <td data-label="Unpriced tokens" className="cell-number">{formatCount(point.unpricedTokens)}</td>
    </tr>
  );
}
