/** Numbers as the console shows them: grouped counts, compact axis labels, USD amounts. */

const count = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });
const percent = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });

/** 12,345 (in the person's locale). */
export function formatCount(value: number): string {
  return count.format(value);
}

/** 1.2K, 3.4M: for chart axes, where space is short. */
export function formatCompact(value: number): string {
  return compact.format(value);
}

/** "12.5%"; a share too small to show as 0.1% says so rather than "0%". */
export function formatPercent(fraction: number): string {
  if (fraction > 0 && fraction < 0.001) return `<${percent.format(0.001)}`;
  return percent.format(fraction);
}

/** "1–20 of 45", or "3 members" when one page holds them all. */
export function pageSummary(start: number, shown: number, total: number, noun: [string, string]): string {
  if (start === 0 && shown === total) return `${formatCount(total)} ${total === 1 ? noun[0] : noun[1]}`;
  return `${formatCount(start + 1)}–${formatCount(start + shown)} of ${formatCount(total)}`;
}

/**
 * A USD amount the service sent as a decimal string ("0.012500"), shown with the digits that
 * matter: at least two decimals, more only when they are not zero ("$0.0125", "$50.00").
 * The string is never turned into a float, so nothing is rounded away.
 */
export function formatUsd(amount: string): string {
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(amount.trim());
  if (!match) return amount;
  const [, sign = "", whole = "0", decimals = ""] = match;
  const trimmed = decimals.replace(/0+$/, "").padEnd(2, "0");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${sign}$${grouped}.${trimmed}`;
}

/** A USD decimal string as a number, for drawing only (charts, bars). */
export function usdValue(amount: string): number {
  const value = Number(amount);
  return Number.isFinite(value) ? value : 0;
}

/** "1 minute", "24 hours", "7 days": a span of seconds in the largest unit that divides it. */
export function formatSeconds(seconds: number): string {
  const units: Array<[string, number]> = [
    ["day", 86_400],
    ["hour", 3_600],
    ["minute", 60],
  ];
  for (const [unit, size] of units) {
    if (seconds >= size && seconds % size === 0) {
      const n = seconds / size;
      return `${formatCount(n)} ${unit}${n === 1 ? "" : "s"}`;
    }
  }
  return `${formatCount(seconds)} second${seconds === 1 ? "" : "s"}`;
}
