import type { WebhookEvent } from "../../gql/graphql";
import { formatDateTime } from "../../lib/dates";

export type WebhookFormField = "url" | "events";

export type WebhookFormValues = { url: string; events: ReadonlyArray<WebhookEvent> };

export type WebhookFormCheck =
  | { ok: true; input: { url: string; events: WebhookEvent[] } }
  | { ok: false; fields: Partial<Record<WebhookFormField, string>> };

const MAX_URL_LENGTH = 2048;

/**
 * What the browser can tell before sending: an http(s) URL without credentials or a fragment,
 * and at least one event. Whether its host is allowed (a private or loopback address, say) is
 * the service's to say: it knows its own network rules.
 */
export function checkUrl(value: string): string | null {
  const url = value.trim();
  if (url === "") return "Enter the URL your service receives webhooks at, e.g. https://example.com/hooks/traylinx.";
  if (url.length > MAX_URL_LENGTH) return `The URL must be at most ${MAX_URL_LENGTH} characters.`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "Enter a full URL, starting with https://.";
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
    return "The URL must start with https:// (or http://).";
  }
  if (parsed.hostname === "") return "The URL must name a host.";
  if (parsed.username !== "" || parsed.password !== "") {
    return "The URL must not carry a user name or password: deliveries are signed with the webhook’s secret instead.";
  }
  if (url.includes("#")) return "The URL must not have a #fragment.";
  return null;
}

export function checkEvents(events: ReadonlyArray<WebhookEvent>): string | null {
  return events.length === 0 ? "Choose at least one event." : null;
}

/** Both checks at once, as the service reports its own. */
export function checkWebhookForm(values: WebhookFormValues): WebhookFormCheck {
  const fields: Partial<Record<WebhookFormField, string>> = {};
  const url = checkUrl(values.url);
  if (url) fields.url = url;
  const events = checkEvents(values.events);
  if (events) fields.events = events;
  if (Object.keys(fields).length > 0) return { ok: false, fields };
  return { ok: true, input: { url: values.url.trim(), events: [...values.events] } };
}

/** A plain-http URL works, but its deliveries can be read on the way: the form says so. */
export function isPlainHttp(value: string): boolean {
  return /^http:\/\//i.test(value.trim());
}

export type WebhookStateFields = {
  enabled: boolean;
  failingSince?: string | null;
  disabledAt?: string | null;
  disabledReason?: string | null;
};

export type WebhookState = {
  label: string;
  tone: "success" | "warning" | "danger" | "neutral";
  /** Why, in a sentence; null when all is well. */
  detail: string | null;
};

/** Enabled, failing, disabled by a person, or disabled by the service after days of failures. */
export function webhookState(webhook: WebhookStateFields): WebhookState {
  if (!webhook.enabled) {
    if (webhook.disabledAt) {
      const reason = webhook.disabledReason ?? `Every delivery failed for days; disabled ${formatDateTime(webhook.disabledAt)}.`;
      return {
        label: "Disabled",
        tone: "danger",
        detail: `${reason} Nothing is sent to it. Fix the endpoint, send a test delivery, then enable it again.`,
      };
    }
    return { label: "Disabled", tone: "neutral", detail: "Turned off: nothing is sent to it until it is enabled again." };
  }
  if (webhook.failingSince) {
    return {
      label: "Failing",
      tone: "warning",
      detail: `Every attempt has failed since ${formatDateTime(webhook.failingSince)}. After 3 days of failures it is disabled.`,
    };
  }
  return { label: "Enabled", tone: "success", detail: null };
}

/** Whether the previous secret still signs (a rotation less than 24 hours ago). */
export function previousSecretStillSigns(until: string | null | undefined, now: number = Date.now()): boolean {
  return until !== null && until !== undefined && Date.parse(until) > now;
}
