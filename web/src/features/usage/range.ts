import type { UsageGranularity } from "../../gql/graphql";

/**
 * Which stretch of time the usage page shows. The presets end with the bucket now is in, so the
 * current hour or day is the last point; days are UTC days, as the service counts them.
 */
export type RangeChoice = "24h" | "7d" | "30d" | "custom";

export const RANGE_CHOICES: ReadonlyArray<{ value: RangeChoice; label: string }> = [
  { value: "24h", label: "24 hours" },
  { value: "7d", label: "7 days" },
  { value: "30d", label: "30 days" },
  { value: "custom", label: "Custom" },
];

export type UsageRange = {
  /** ISO 8601 instants for `Project.usage(from, to)`: from inclusive, to exclusive. */
  from: string;
  to: string;
  granularity: UsageGranularity;
  /** "the last 24 hours", "2 Dec 2026 to 8 Dec 2026 (UTC)". */
  label: string;
};

export type CustomRange = { from: string; to: string; granularity: UsageGranularity };

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

function startOfHour(now: Date): number {
  return Math.floor(now.getTime() / HOUR_MS) * HOUR_MS;
}

function startOfUtcDay(now: Date): number {
  return Math.floor(now.getTime() / DAY_MS) * DAY_MS;
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(".000Z", "Z");
}

/** The last 24 hours by hour, or the last 7 or 30 days by (UTC) day, today included. */
export function presetRange(choice: Exclude<RangeChoice, "custom">, now: Date): UsageRange {
  if (choice === "24h") {
    const end = startOfHour(now) + HOUR_MS;
    return { from: iso(end - 24 * HOUR_MS), to: iso(end), granularity: "HOUR", label: "the last 24 hours" };
  }
  const days = choice === "7d" ? 7 : 30;
  const end = startOfUtcDay(now) + DAY_MS;
  return { from: iso(end - days * DAY_MS), to: iso(end), granularity: "DAY", label: `the last ${days} days` };
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

export type CustomRangeCheck =
  | { ok: true; range: UsageRange }
  | { ok: false; field: "from" | "to"; message: string };

/**
 * A range the person chose: whole UTC days, `to` included. Only the shape is checked here; the
 * order and the length are the service's to judge (its message shows next to the picker).
 */
export function customRange(custom: CustomRange): CustomRangeCheck {
  for (const field of ["from", "to"] as const) {
    const value = custom[field];
    if (!DATE.test(value) || Number.isNaN(Date.parse(`${value}T00:00:00Z`))) {
      return { ok: false, field, message: "Choose a day." };
    }
  }
  const from = Date.parse(`${custom.from}T00:00:00Z`);
  const to = Date.parse(`${custom.to}T00:00:00Z`) + DAY_MS;
  const label =
    custom.from === custom.to ? `${custom.from} (UTC)` : `${custom.from} to ${custom.to} (UTC)`;
  return { ok: true, range: { from: iso(from), to: iso(to), granularity: custom.granularity, label } };
}

/** The custom range a preset covers, as dates, to start the custom fields from. */
export function datesOf(range: UsageRange): { from: string; to: string } {
  const last = Date.parse(range.to) - 1;
  return { from: range.from.slice(0, 10), to: new Date(last).toISOString().slice(0, 10) };
}

export function parseChoice(value: string | null): RangeChoice {
  return value === "7d" || value === "30d" || value === "custom" ? value : "24h";
}

export function parseGranularity(value: string | null): UsageGranularity {
  return value === "HOUR" ? "HOUR" : "DAY";
}
