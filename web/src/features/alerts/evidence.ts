import type { SecurityAlertKind } from "../../gql/graphql";
import { formatDate, formatDateTime } from "../../lib/dates";
import { formatCount } from "../../lib/numbers";

/** Every kind the schema knows; a new one fails to type-check here. */
export const ALERT_KINDS: Record<SecurityAlertKind, { label: string; explains: string }> = {
  UNFAMILIAR_IP: {
    label: "Unfamiliar address",
    explains: "The key was used from an address it had not used lately.",
  },
  REQUEST_SPIKE: {
    label: "Request spike",
    explains: "An hour with far more requests than the key usually makes.",
  },
  ERROR_SPIKE: {
    label: "Error spike",
    explains: "An hour with far more failed requests than usual.",
  },
  REVOKED_KEY_IN_USE: {
    label: "Revoked key in use",
    explains: "A deleted or expired key was presented again: it is still deployed somewhere.",
  },
  KEY_LEAKED: {
    label: "Key leaked",
    explains: "The key was found in public (by GitHub secret scanning or our scanner).",
  },
};

export function alertKindLabel(kind: SecurityAlertKind): string {
  return ALERT_KINDS[kind].label;
}

type Evidence = Record<string, unknown>;

function number(evidence: Evidence, name: string): number | null {
  const value = evidence[name];
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function text(evidence: Evidence, name: string): string | null {
  const value = evidence[name];
  return typeof value === "string" && value !== "" ? value : null;
}

function plural(n: number, one: string, many: string = `${one}s`): string {
  return `${formatCount(n)} ${n === 1 ? one : many}`;
}

/** A median can be a half (the middle of an even count): one decimal at most. */
function usual(n: number): string {
  return Number.isInteger(n) ? formatCount(n) : n.toFixed(1);
}

/**
 * What an alert's evidence says, as a sentence: the counts, addresses and thresholds the
 * service recorded when it raised it (see app/usage/alerts.py for each kind's fields). Fields
 * that are missing are left out of the sentence rather than shown as "undefined".
 */
export function evidenceInWords(kind: SecurityAlertKind, evidence: unknown): string {
  const facts: Evidence = evidence !== null && typeof evidence === "object" ? (evidence as Evidence) : {};
  switch (kind) {
    case "UNFAMILIAR_IP": {
      const ip = text(facts, "ip") ?? "an unknown address";
      const requests = number(facts, "requests");
      const known = number(facts, "knownAddresses");
      const since = text(facts, "keyInUseSince");
      let sentence = `${requests !== null ? plural(requests, "request") : "Requests"} from ${ip}, an address this key had not used lately`;
      if (known !== null && known > 0) {
        sentence += `; until then it had been used from ${plural(known, "address", "addresses")}`;
        if (since) sentence += ` since ${formatDate(since)}`;
      }
      return `${sentence}.`;
    }
    case "REQUEST_SPIKE":
    case "ERROR_SPIKE": {
      const measure = kind === "REQUEST_SPIKE" ? "requests" : "errors";
      const count = number(facts, measure);
      const median = number(facts, "trailingMedian");
      const threshold = number(facts, "threshold");
      let sentence = `${count !== null ? plural(count, measure.slice(0, -1)) : `Many ${measure}`} in one hour`;
      if (median !== null) sentence += `, against ${usual(median)} in a usual hour`;
      if (threshold !== null) sentence += ` (the alert is raised above ${usual(threshold)})`;
      return `${sentence}.`;
    }
    case "REVOKED_KEY_IN_USE": {
      const reason = text(facts, "reason");
      const ip = text(facts, "ip");
      const at = text(facts, "at");
      const which = reason === "expired" ? "expired" : reason === "revoked" ? "deleted" : "revoked";
      let sentence = `The ${which} key was presented`;
      if (ip) sentence += ` from ${ip}`;
      if (at) sentence += ` at ${formatDateTime(at)}`;
      return `${sentence}; it was refused, but whoever sent it still has it.`;
    }
    case "KEY_LEAKED": {
      const url = text(facts, "url");
      const place = url ?? text(facts, "place");
      const source = text(facts, "source");
      const by = text(facts, "reportedBy") === "scanner" ? "our scanner" : "GitHub secret scanning";
      let sentence = `Found in public by ${by}`;
      if (place) sentence += ` at ${place}`;
      if (source && source !== "unknown") sentence += ` (${source})`;
      const action = text(facts, "action");
      if (action === "revoked") sentence += "; the key was deleted at once";
      else if (action === "alerted") sentence += "; the key still works: replace it and delete it";
      return `${sentence}.`;
    }
  }
}
