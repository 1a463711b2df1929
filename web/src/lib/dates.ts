/**
 * Dates come from the service as UTC ISO 8601 strings and are shown in the person's time zone;
 * dates typed into `<input type="datetime-local">` (local wall-clock time, no offset) go back as
 * UTC ISO 8601, since the service refuses a time without an offset.
 */

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function formatDate(iso: string): string {
  return dateFormat.format(new Date(iso));
}

export function formatDateTime(iso: string): string {
  return dateTimeFormat.format(new Date(iso));
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const UNITS: Array<[Intl.RelativeTimeFormatUnit, number]> = [
  ["day", 86_400_000],
  ["hour", 3_600_000],
  ["minute", 60_000],
];

/** "3 minutes ago", "in 2 days"; "just now" under a minute. */
export function formatRelative(iso: string, now: number = Date.now()): string {
  const delta = Date.parse(iso) - now;
  for (const [unit, ms] of UNITS) {
    if (Math.abs(delta) >= ms) return relative.format(Math.round(delta / ms), unit);
  }
  return "just now";
}

export function timeZoneName(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

export type LocalDateTimeResult =
  | { ok: true; value: string | null }
  | { ok: false; message: string };

/**
 * The value of a datetime-local input ("2027-01-31T09:00", the person's wall-clock time) as a UTC
 * ISO 8601 instant; blank means none. Whether it lies in the future is the service's to say.
 */
export function localInputToUtc(value: string): LocalDateTimeResult {
  const trimmed = value.trim();
  if (trimmed === "") return { ok: true, value: null };
  // Without an offset, the Date constructor reads a date-time as local time (ECMAScript's rule).
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/.test(trimmed)) {
    return { ok: false, message: "Enter a date and time, or leave it blank for a key that never expires." };
  }
  const date = new Date(trimmed);
  if (Number.isNaN(date.getTime())) {
    return { ok: false, message: "This date does not exist. Check the day and month." };
  }
  return { ok: true, value: date.toISOString() };
}

/** The other way: a UTC instant as the value a datetime-local input shows, in local time. */
export function utcToLocalInput(iso: string): string {
  const date = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });

/** "8 Dec 2026, 14:00 – 15:00", or one instant when both ends are the same minute. */
export function formatWindow(startIso: string, endIso: string): string {
  const start = new Date(startIso);
  const end = new Date(endIso);
  const from = dateTimeFormat.format(start);
  if (Math.abs(end.getTime() - start.getTime()) < 60_000) return from;
  const sameDay = dateFormat.format(start) === dateFormat.format(end);
  return `${from} – ${sameDay ? timeFormat.format(end) : dateTimeFormat.format(end)}`;
}
