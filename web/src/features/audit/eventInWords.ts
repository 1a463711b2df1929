import type { LlmProvider, SecurityAlertKind, WebhookEvent } from "../../gql/graphql";
import { formatCount, formatSeconds, formatUsd } from "../../lib/numbers";
import { ALERT_KINDS } from "../alerts/evidence";
import { PROVIDERS } from "../llm-keys/providers";
import { EVENTS } from "../webhooks/events";

/**
 * The audit trail in words. The vocabulary is the services' `action=` calls (the service.py of each app/ domain)
 * and the details each records: labels and ids only, never a secret, and these sentences show
 * no more than the details hold.
 */

export type AuditEventLike = {
  action: string;
  details: unknown;
  targetId: string;
  actorApiKeyId?: string | null;
  /** The part of the service that acted on its own (see AuditEvent.actorSystem). */
  actorSystem?: string | null;
  actor?: { name: string } | null;
  targetUser?: { name: string } | null;
};

/** The actions the filter offers, in words; one the console does not know shows as it is. */
export const ACTION_LABELS: Record<string, string> = {
  "project.create": "Project created",
  "project.update_budget": "Project budget changed",
  "project.member_add": "Member added",
  "project.member_role_change": "Member's role changed",
  "project.member_remove": "Member removed",
  "api_key.create": "API key created",
  "api_key.update_note": "API key renamed",
  "api_key.update_policy": "API key policy changed",
  "api_key.rotate": "API key rotated",
  "api_key.delete": "API key deleted",
  "llm_api_key.add": "LLM API key added",
  "llm_api_key.update": "LLM API key updated",
  "llm_api_key.delete": "LLM API key deleted",
  "api_key.revoke_leaked": "Leaked API key revoked",
  "api_key.leak_reported": "API key leak reported",
  "security_alert.acknowledge": "Security alert acknowledged",
  "webhook.add": "Webhook added",
  "webhook.update": "Webhook changed",
  "webhook.rotate_secret": "Webhook secret rotated",
  "webhook.delete": "Webhook deleted",
  "webhook.disable": "Webhook disabled for failures",
  "user.sign_up": "Account created",
};

export function actionLabel(action: string): string {
  return ACTION_LABELS[action] ?? action;
}

type Details = Record<string, unknown>;

function field(details: Details, name: string): unknown {
  return details[name];
}

function str(details: Details, name: string): string | null {
  const value = field(details, name);
  return typeof value === "string" && value !== "" ? value : null;
}

function num(details: Details, name: string): number | null {
  const value = field(details, name);
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function obj(details: Details, name: string): Details | null {
  const value = field(details, name);
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Details) : null;
}

function list(details: Details, name: string): string[] | null {
  const value = field(details, name);
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : null;
}

const ROLE_WORDS: Record<string, string> = { OWNER: "an owner", ADMIN: "an admin", MEMBER: "a member" };

function role(value: string | null): string {
  return (value && ROLE_WORDS[value]) ?? "a member";
}

function roleName(value: string | null): string {
  return value ? value.charAt(0) + value.slice(1).toLowerCase() : "another role";
}

function quoted(text: string | null): string {
  return text ? `“${text}”` : "(no note recorded)";
}

const PERIOD_WORDS: Record<string, string> = { DAY: "a day", MONTH: "a month" };

/** Micro-dollars (the stored unit) as a USD amount. */
function usdOfMicros(micros: number): string {
  const whole = Math.trunc(micros / 1_000_000);
  const fraction = String(Math.abs(micros % 1_000_000)).padStart(6, "0");
  return formatUsd(`${whole}.${fraction}`);
}

/** A stored budget (`{period, tokens}` or `{period, micros}`) in words. */
export function budgetInWords(budget: Details | null): string | null {
  if (!budget) return null;
  const period = PERIOD_WORDS[String(budget["period"])] ?? "a period";
  const tokens = num(budget, "tokens");
  if (tokens !== null) return `${formatCount(tokens)} tokens ${period}`;
  const micros = num(budget, "micros");
  if (micros !== null) return `${usdOfMicros(micros)} ${period}`;
  return null;
}

/** A stored key policy (see StoredPolicy in app/api_keys/policy.py) in a few words. */
export function policyInWords(policy: Details | null): string {
  if (!policy) return "no limits";
  const parts: string[] = [];
  const scopes = list(policy, "scopes");
  if (scopes && scopes.length === 1) parts.push(scopes[0] === "PROXY" ? "model calls only" : "reading only");
  const models = list(policy, "models");
  if (models) parts.push(models.length === 1 ? `model ${models[0]}` : `${formatCount(models.length)} models`);
  const ips = list(policy, "ips");
  if (ips) parts.push(ips.length <= 2 ? `from ${ips.join(" and ")}` : `from ${formatCount(ips.length)} address ranges`);
  const rpm = num(policy, "rpm");
  if (rpm !== null) parts.push(`${formatCount(rpm)} requests a minute`);
  const tpm = num(policy, "tpm");
  if (tpm !== null) parts.push(`${formatCount(tpm)} tokens a minute`);
  const concurrent = num(policy, "concurrent");
  if (concurrent !== null) parts.push(`${formatCount(concurrent)} requests at once`);
  for (const budget of [obj(policy, "token_budget"), obj(policy, "spend_budget")]) {
    const words = budgetInWords(budget);
    if (words) parts.push(words);
  }
  return parts.length > 0 ? parts.join(", ") : "no limits";
}

function providerWords(value: string | null): string {
  const upper = value?.toUpperCase();
  return upper && upper in PROVIDERS ? PROVIDERS[upper as LlmProvider].name : (value ?? "a provider");
}

const CHANGED_WORDS: Record<string, string> = {
  secretKey: "the secret",
  customModels: "the custom models",
  withDefaultModels: "the default models",
  customModelPrices: "the custom models' prices",
};

function joinWords(words: string[]): string {
  if (words.length <= 1) return words[0] ?? "";
  return `${words.slice(0, -1).join(", ")} and ${words.at(-1)}`;
}

/** The parts of the service that act on their own (`actorSystem`), by name. */
export const SYSTEM_ACTORS: Record<string, string> = {
  github_secret_scanning: "GitHub secret scanning",
  scanner: "The key scanner",
  webhooks: "TrayLinx",
};

/** Who acted: a person by name, a key by its id, or the part of the service that did. */
export function actorInWords(event: AuditEventLike): string {
  if (event.actor) return event.actor.name;
  if (event.actorApiKeyId) return `API key ${event.actorApiKeyId}`;
  if (event.actorSystem) return SYSTEM_ACTORS[event.actorSystem] ?? `The service (${event.actorSystem})`;
  return "Someone";
}

const WEBHOOK_CHANGED_WORDS: Record<string, string> = {
  url: "the URL",
  events: "the events",
  enabled: "whether it is enabled",
};

/** `security_alert.raised` style names of the events a webhook receives, in words. */
function webhookEvents(details: Details): string | null {
  const events = list(details, "events");
  if (!events || events.length === 0) return null;
  const labels = events.map((event) => lowerFirst(EVENTS[event as WebhookEvent]?.label ?? event));
  return labels.length <= 3 ? joinWords(labels) : `${formatCount(labels.length)} events`;
}

/** "Security alert raised" -> "security alert raised", but "API key leaked" stays. */
function lowerFirst(label: string): string {
  return /^[A-Z][a-z]/.test(label) ? label.charAt(0).toLowerCase() + label.slice(1) : label;
}

function webhookAt(details: Details): string {
  const host = str(details, "host");
  return host ? `the webhook to ${host}` : "a webhook";
}

/** Where a leaked key was found, and by which report. */
function foundAt(details: Details): string {
  const place = str(details, "foundAt");
  return place ? ` (found at ${place})` : "";
}

function alertKindWords(kind: string | null): string {
  const known = kind && kind in ALERT_KINDS ? ALERT_KINDS[kind as SecurityAlertKind].label : null;
  return known ? `the “${known}” alert` : "a security alert";
}

/** One event as a sentence, e.g. `Ada Lovelace created API key “CI pipeline”`. */
export function eventInWords(event: AuditEventLike): string {
  const who = actorInWords(event);
  const details: Details =
    event.details !== null && typeof event.details === "object" ? (event.details as Details) : {};
  const person = event.targetUser?.name ?? "a former account";
  const note = quoted(str(details, "note"));
  switch (event.action) {
    case "project.create":
      return `${who} created the project ${quoted(str(details, "name"))}`;
    case "project.update_budget": {
      const budgets = [budgetInWords(obj(details, "token_budget")), budgetInWords(obj(details, "spend_budget"))].filter(
        (words): words is string => words !== null,
      );
      return budgets.length > 0
        ? `${who} set the project budget to ${joinWords(budgets)}`
        : `${who} removed the project budget`;
    }
    case "project.member_add":
      return `${who} added ${person} as ${role(str(details, "role"))}`;
    case "project.member_role_change":
      return `${who} changed ${person}’s role from ${roleName(str(details, "from"))} to ${roleName(str(details, "to"))}`;
    case "project.member_remove":
      return `${who} removed ${person} (${roleName(str(details, "role"))})`;
    case "api_key.create":
      return `${who} created API key ${note}`;
    case "api_key.update_note":
      return `${who} renamed API key ${quoted(str(details, "previous_note"))} to ${note}`;
    case "api_key.delete":
      return `${who} deleted API key ${note}`;
    case "api_key.update_policy":
      return `${who} changed the policy of API key ${note}: ${policyInWords(obj(details, "policy"))}`;
    case "api_key.rotate": {
      const grace = num(details, "grace_period_seconds");
      const old = str(details, "previous_key");
      const oldKey = old ? `the old key (${old})` : "the old key";
      const end =
        grace === null
          ? ""
          : grace === 0
            ? `; ${oldKey} was revoked at once`
            : `, giving ${oldKey} ${formatSeconds(grace)} of grace`;
      return `${who} rotated API key ${note}${end}`;
    }
    case "llm_api_key.add":
      return `${who} added the ${providerWords(str(details, "provider"))} key`;
    case "llm_api_key.update": {
      const changed = (list(details, "changed") ?? []).map((name) => CHANGED_WORDS[name] ?? name);
      const what = changed.length > 0 ? `: ${joinWords(changed)}` : "";
      return `${who} updated the ${providerWords(str(details, "provider"))} key${what}`;
    }
    case "llm_api_key.delete":
      return `${who} deleted the ${providerWords(str(details, "provider"))} key`;
    case "api_key.revoke_leaked":
      return `${who} revoked key ${note}${foundAt(details)}`;
    case "api_key.leak_reported":
      return `${who} reported key ${note} leaked${foundAt(details)}; it was not revoked`;
    case "security_alert.acknowledge": {
      const key = str(details, "apiKeyId");
      return `${who} acknowledged ${alertKindWords(str(details, "kind"))}${key ? ` on key ${key}` : ""}`;
    }
    case "webhook.add": {
      const events = webhookEvents(details);
      const host = str(details, "host");
      return `${who} added a webhook${host ? ` to ${host}` : ""}${events ? ` for ${events}` : ""}`;
    }
    case "webhook.update": {
      const changed = (list(details, "changed") ?? []).map((name) => WEBHOOK_CHANGED_WORDS[name] ?? name);
      return `${who} changed ${webhookAt(details)}${changed.length > 0 ? `: ${joinWords(changed)}` : ""}`;
    }
    case "webhook.rotate_secret":
      return `${who} rotated the signing secret of ${webhookAt(details)}; the old one signs too for 24 hours`;
    case "webhook.delete":
      return `${who} deleted ${webhookAt(details)}`;
    case "webhook.disable": {
      const reason = str(details, "reason");
      return `${who} disabled ${webhookAt(details)}${reason ? `: ${reason}` : " after its deliveries failed for days"}`;
    }
    case "user.sign_up":
      return `${who} created an account`;
    default:
      return `${who}: ${event.action}`;
  }
}
