import type { WebhookDeliveryStatus } from "../../gql/graphql";
import { formatCount } from "../../lib/numbers";

export type DeliveryLike = {
  status: WebhookDeliveryStatus;
  nextAttemptAt?: string | null;
  responseStatus?: number | null;
  responseTimeMs?: number | null;
};

/** How far ahead a pending attempt makes the log watch for its outcome. */
const WATCH_AHEAD_MS = 60_000;

/**
 * Whether the log should ask again soon: a delivery is waiting for an attempt due within the
 * minute (a test delivery is tried within a second or two). Retries hours away are not watched.
 */
export function awaitingAttempt(deliveries: ReadonlyArray<DeliveryLike>, now: number = Date.now()): boolean {
  return deliveries.some(
    (delivery) =>
      delivery.status === "PENDING" &&
      (delivery.nextAttemptAt == null || Date.parse(delivery.nextAttemptAt) <= now + WATCH_AHEAD_MS),
  );
}

/** The last answer: `HTTP 200 in 35 ms`, `HTTP 500`, or null when none came. */
export function responseInWords(delivery: DeliveryLike): string | null {
  if (delivery.responseStatus == null) return null;
  const time = delivery.responseTimeMs != null ? ` in ${formatCount(delivery.responseTimeMs)} ms` : "";
  return `HTTP ${delivery.responseStatus}${time}`;
}

/** "10 of 23 deliveries shown", or "3 deliveries" when all are. */
export function deliveriesShown(shown: number, total: number): string {
  const noun = total === 1 ? "delivery" : "deliveries";
  if (shown >= total) return `${formatCount(total)} ${noun}`;
  return `${formatCount(shown)} of ${formatCount(total)} ${noun} shown`;
}
