import type { UsageGranularity } from "../../gql/graphql";
import { usdValue } from "../../lib/numbers";

/** One bucket as the service sends it (`UsagePoint`). */
export type Point = {
  start: string;
  requests: number;
  errors: number;
  inputTokens: number;
  outputTokens: number;
  spendUsd: string;
  unpricedTokens: number;
};

/** Columns for the charts: x in Unix seconds (uPlot's time scale), one array per series. */
export type ChartColumns = {
  x: number[];
  requests: number[];
  errors: number[];
  inputTokens: number[];
  outputTokens: number[];
  spend: number[];
};

export function chartColumns(points: ReadonlyArray<Point>): ChartColumns {
  const columns: ChartColumns = { x: [], requests: [], errors: [], inputTokens: [], outputTokens: [], spend: [] };
  for (const point of points) {
    columns.x.push(Date.parse(point.start) / 1000);
    columns.requests.push(point.requests);
    columns.errors.push(point.errors);
    columns.inputTokens.push(point.inputTokens);
    columns.outputTokens.push(point.outputTokens);
    columns.spend.push(usdValue(point.spendUsd));
  }
  return columns;
}

/** Whether anything happened in the range (an empty series still has its zero buckets). */
export function hasTraffic(totals: Point): boolean {
  return totals.requests > 0 || totals.inputTokens + totals.outputTokens + totals.unpricedTokens > 0;
}

const hourLabel = new Intl.DateTimeFormat(undefined, {
  day: "numeric",
  month: "short",
  hour: "2-digit",
  minute: "2-digit",
});
const dayLabel = new Intl.DateTimeFormat(undefined, {
  day: "numeric",
  month: "short",
  year: "numeric",
  timeZone: "UTC",
});

/**
 * A bucket's name in the table and the tooltip: hours in the person's time zone, days as the
 * UTC days the service counts (a day bucket starts at 00:00 UTC, which is not midnight here).
 */
export function bucketLabel(start: string, granularity: UsageGranularity): string {
  const date = new Date(start);
  return granularity === "HOUR" ? hourLabel.format(date) : dayLabel.format(date);
}

/** The share of requests that failed, or null without requests. */
export function errorRate(totals: Pick<Point, "requests" | "errors">): number | null {
  return totals.requests > 0 ? totals.errors / totals.requests : null;
}

/** The busiest bucket, for the chart's text summary. */
export function busiest(points: ReadonlyArray<Point>): Point | null {
  let best: Point | null = null;
  for (const point of points) if (point.requests > 0 && (!best || point.requests > best.requests)) best = point;
  return best;
}

const tickHour = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const tickDay = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" });
const tickUtcDay = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", timeZone: "UTC" });

/**
 * A time axis label: hours as the person's clock ("14:00", and the date at midnight), days as
 * the UTC date they stand for ("8 Dec").
 */
export function tickLabel(seconds: number, granularity: UsageGranularity): string {
  const date = new Date(seconds * 1000);
  if (granularity === "DAY") return tickUtcDay.format(date);
  return date.getHours() === 0 && date.getMinutes() === 0 ? tickDay.format(date) : tickHour.format(date);
}
