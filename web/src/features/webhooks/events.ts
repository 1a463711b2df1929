import type { WebhookDeliveryStatus, WebhookEvent } from "../../gql/graphql";

/**
 * What each event means, in words. `type` is the payload's `type` field (see the WebhookEvent
 * enum in schema.graphql), which a receiver switches on.
 */
export type EventInfo = { type: string; label: string; sentence: string };

export const EVENTS: Record<WebhookEvent, EventInfo> = {
  SECURITY_ALERT_RAISED: {
    type: "security_alert.raised",
    label: "Security alert raised",
    sentence:
      "A key was used from an unfamiliar address, traffic or errors spiked, a deleted key was presented, or a key leaked.",
  },
  KEY_LEAKED: {
    type: "api_key.leaked",
    label: "API key leaked",
    sentence: "A key of this project was found in public (e.g. by GitHub secret scanning), and revoked or not per the server’s setting.",
  },
  KEY_EXPIRES_SOON: {
    type: "api_key.expires_soon",
    label: "API key expires soon",
    sentence: "A key entered its expiry warning period. Sent once per key.",
  },
  KEY_ROTATION_DUE: {
    type: "api_key.rotation_due",
    label: "API key rotation due",
    sentence: "A key reached the age at which it should be rotated. Sent once per key.",
  },
  BUDGET_THRESHOLD_REACHED: {
    type: "budget.threshold_reached",
    label: "Budget threshold reached",
    sentence: "A key’s or the project’s token or spend budget passed 80 % or 100 % in its period.",
  },
  API_KEY_CREATED: {
    type: "api_key.created",
    label: "API key created",
    sentence: "A project API key was created, by a person or by a rotation.",
  },
  API_KEY_DELETED: {
    type: "api_key.deleted",
    label: "API key deleted",
    sentence: "A project API key was deleted or revoked.",
  },
  LLM_API_KEY_CHANGED: {
    type: "llm_api_key.changed",
    label: "LLM API key changed",
    sentence: "A provider key was added, replaced, had its models edited, or was deleted.",
  },
  WEBHOOK_TEST: {
    type: "webhook.test",
    label: "Test delivery",
    sentence: "Sent when you ask for a test delivery; it cannot be subscribed to.",
  },
};

/** The events a webhook can subscribe to, in the order the form offers them. */
export const SUBSCRIBABLE_EVENTS: ReadonlyArray<WebhookEvent> = [
  "SECURITY_ALERT_RAISED",
  "KEY_LEAKED",
  "KEY_EXPIRES_SOON",
  "KEY_ROTATION_DUE",
  "BUDGET_THRESHOLD_REACHED",
  "API_KEY_CREATED",
  "API_KEY_DELETED",
  "LLM_API_KEY_CHANGED",
];

/** What a new webhook subscribes to unless the person chooses otherwise: the security events. */
export const DEFAULT_EVENTS: ReadonlyArray<WebhookEvent> = ["SECURITY_ALERT_RAISED", "KEY_LEAKED"];

export function eventLabel(event: WebhookEvent): string {
  return EVENTS[event]?.label ?? event;
}

/** The chosen events in the form's order (the service keeps the order it was given). */
export function inFormOrder(events: ReadonlyArray<WebhookEvent>): WebhookEvent[] {
  return SUBSCRIBABLE_EVENTS.filter((event) => events.includes(event));
}

export const DELIVERY_STATUS_LABELS: Record<WebhookDeliveryStatus, string> = {
  PENDING: "Pending",
  SUCCEEDED: "Delivered",
  FAILED: "Failed",
};

export type WebhookChanges = { url?: string; events?: WebhookEvent[]; enabled?: boolean };

/** Only what the form changed, so the service (and its audit log) hears of nothing else. */
export function changedFields(
  current: { url: string; events: ReadonlyArray<WebhookEvent>; enabled: boolean },
  values: { url: string; events: ReadonlyArray<WebhookEvent>; enabled: boolean },
): WebhookChanges {
  const changes: WebhookChanges = {};
  if (values.url !== current.url) changes.url = values.url;
  const before = inFormOrder(current.events);
  const after = inFormOrder(values.events);
  if (before.length !== after.length || before.some((event, i) => event !== after[i])) changes.events = after;
  if (values.enabled !== current.enabled) changes.enabled = values.enabled;
  return changes;
}
