import { describe, expect, it } from "vitest";

import { actionLabel, actorInWords, eventInWords, policyInWords, type AuditEventLike } from "./eventInWords";

const ada = { name: "Ada Lovelace" };
const grace = { name: "Grace Hopper" };

function event(action: string, details: unknown, more: Partial<AuditEventLike> = {}): AuditEventLike {
  return { action, details, targetId: "t", actor: ada, ...more };
}

describe("eventInWords", () => {
  it("says what happened to a key, naming it by its note", () => {
    expect(eventInWords(event("api_key.create", { note: "CI pipeline" }))).toBe(
      "Ada Lovelace created API key “CI pipeline”",
    );
    expect(eventInWords(event("api_key.update_note", { note: "CI (EU)", previous_note: "CI" }))).toBe(
      "Ada Lovelace renamed API key “CI” to “CI (EU)”",
    );
    expect(eventInWords(event("api_key.delete", { note: "CI" }))).toBe("Ada Lovelace deleted API key “CI”");
  });

  it("tells a rotation's grace period, or that the old key was revoked at once", () => {
    expect(
      eventInWords(event("api_key.rotate", { note: "CI", previous_key: "abc123", grace_period_seconds: 86_400 })),
    ).toBe("Ada Lovelace rotated API key “CI”, giving the old key (abc123) 1 day of grace");
    expect(eventInWords(event("api_key.rotate", { note: "CI", previous_key: "abc123", grace_period_seconds: 0 }))).toBe(
      "Ada Lovelace rotated API key “CI”; the old key (abc123) was revoked at once",
    );
  });

  it("sums up a policy", () => {
    const words = eventInWords(
      event("api_key.update_policy", {
        note: "Support bot",
        policy: {
          scopes: ["PROXY"],
          models: ["gpt-4.1-mini"],
          ips: ["203.0.113.0/24"],
          rpm: 60,
          token_budget: { period: "MONTH", tokens: 5_000_000 },
          spend_budget: { period: "DAY", micros: 50_000_000 },
        },
      }),
    );
    expect(words).toBe(
      "Ada Lovelace changed the policy of API key “Support bot”: model calls only, model gpt-4.1-mini, " +
        "from 203.0.113.0/24, 60 requests a minute, 5,000,000 tokens a month, $50.00 a day",
    );
    expect(policyInWords({ scopes: ["PROXY", "READ"] })).toBe("no limits");
  });

  it("names the person a membership event is about", () => {
    expect(eventInWords(event("project.member_add", { role: "ADMIN" }, { targetUser: grace }))).toBe(
      "Ada Lovelace added Grace Hopper as an admin",
    );
    expect(
      eventInWords(event("project.member_role_change", { from: "MEMBER", to: "ADMIN" }, { targetUser: grace })),
    ).toBe("Ada Lovelace changed Grace Hopper’s role from Member to Admin");
    expect(eventInWords(event("project.member_remove", { role: "MEMBER" }, { targetUser: null }))).toBe(
      "Ada Lovelace removed a former account (Member)",
    );
  });

  it("says a project budget, or its removal", () => {
    expect(
      eventInWords(event("project.update_budget", { spend_budget: { period: "MONTH", micros: 12_500_000 } })),
    ).toBe("Ada Lovelace set the project budget to $12.50 a month");
    expect(eventInWords(event("project.update_budget", {}))).toBe("Ada Lovelace removed the project budget");
  });

  it("names provider keys by their provider, never by their secret", () => {
    const words = eventInWords(
      event("llm_api_key.update", { provider: "openai", secretHint: "…wxyz", changed: ["secretKey", "customModels"] }),
    );
    expect(words).toBe("Ada Lovelace updated the OpenAI key: the secret and the custom models");
    expect(words).not.toContain("wxyz");
    expect(eventInWords(event("llm_api_key.add", { provider: "anthropic" }))).toBe("Ada Lovelace added the Anthropic key");
  });

  it("names a key that acted, and shows an action it does not know as it is", () => {
    expect(eventInWords(event("project.create", { name: "Acme" }, { actor: null, actorApiKeyId: "k1" }))).toBe(
      "API key k1 created the project “Acme”",
    );
    expect(eventInWords(event("webhook.create", {}))).toBe("Ada Lovelace: webhook.create");
  });

  it("never prints undefined for missing details", () => {
    for (const action of ["api_key.create", "api_key.rotate", "project.member_add", "llm_api_key.update", "api_key.update_policy"]) {
      expect(eventInWords(event(action, null, { actor: null }))).not.toMatch(/undefined|null|NaN|\[object/);
    }
  });
});

describe("eventInWords: webhooks, leaks and alerts", () => {
  it("names the part of the service that acted when no person or key did", () => {
    const found = "https://github.com/acme/app/blob/main/.env";
    expect(
      eventInWords(
        event("api_key.revoke_leaked", { note: "deploy bot", foundAt: found, source: "content" }, {
          actor: null,
          actorSystem: "github_secret_scanning",
        }),
      ),
    ).toBe(`GitHub secret scanning revoked key “deploy bot” (found at ${found})`);
    expect(
      eventInWords(
        event("api_key.leak_reported", { note: "deploy bot", foundAt: "src/settings.py:12" }, {
          actor: null,
          actorSystem: "scanner",
        }),
      ),
    ).toBe("The key scanner reported key “deploy bot” leaked (found at src/settings.py:12); it was not revoked");
    expect(actorInWords({ action: "x", details: {}, targetId: "t", actorSystem: "something_new" })).toBe(
      "The service (something_new)",
    );
    // A person is named before any system.
    expect(actorInWords({ action: "x", details: {}, targetId: "t", actor: ada, actorSystem: "scanner" })).toBe(
      "Ada Lovelace",
    );
  });

  it("tells webhook changes by the endpoint's host, never its path", () => {
    expect(
      eventInWords(event("webhook.add", { host: "hooks.example.com", events: ["SECURITY_ALERT_RAISED", "KEY_LEAKED"] })),
    ).toBe("Ada Lovelace added a webhook to hooks.example.com for security alert raised and API key leaked");
    expect(
      eventInWords(
        event("webhook.add", {
          host: "hooks.example.com",
          events: ["SECURITY_ALERT_RAISED", "KEY_LEAKED", "API_KEY_CREATED", "API_KEY_DELETED"],
        }),
      ),
    ).toBe("Ada Lovelace added a webhook to hooks.example.com for 4 events");
    expect(eventInWords(event("webhook.update", { host: "hooks.example.com", changed: ["events", "enabled"] }))).toBe(
      "Ada Lovelace changed the webhook to hooks.example.com: the events and whether it is enabled",
    );
    expect(eventInWords(event("webhook.rotate_secret", { host: "hooks.example.com" }))).toBe(
      "Ada Lovelace rotated the signing secret of the webhook to hooks.example.com; the old one signs too for 24 hours",
    );
    expect(eventInWords(event("webhook.delete", { host: "hooks.example.com" }))).toBe(
      "Ada Lovelace deleted the webhook to hooks.example.com",
    );
  });

  it("says why the service disabled a failing webhook", () => {
    const reason = "Every delivery failed for 3 days; disabled 2026-12-02 10:00 UTC.";
    expect(
      eventInWords(
        event("webhook.disable", { reason, failingSince: "2026-11-29T10:00:00+00:00" }, { actor: null, actorSystem: "webhooks" }),
      ),
    ).toBe(`TrayLinx disabled a webhook: ${reason}`);
  });

  it("names the kind of an acknowledged alert", () => {
    expect(eventInWords(event("security_alert.acknowledge", { kind: "UNFAMILIAR_IP", apiKeyId: "k1" }))).toBe(
      "Ada Lovelace acknowledged the “Unfamiliar address” alert on key k1",
    );
    expect(eventInWords(event("security_alert.acknowledge", {}))).toBe("Ada Lovelace acknowledged a security alert");
  });

  it("has a label and a sentence for every action the service records", () => {
    // The `action=` strings of app/*/service.py and app/webhooks/dispatcher.py.
    const recorded = [
      "user.sign_up",
      "project.create",
      "project.update_budget",
      "project.member_add",
      "project.member_role_change",
      "project.member_remove",
      "api_key.create",
      "api_key.update_note",
      "api_key.update_policy",
      "api_key.rotate",
      "api_key.delete",
      "api_key.revoke_leaked",
      "api_key.leak_reported",
      "llm_api_key.add",
      "llm_api_key.update",
      "llm_api_key.delete",
      "security_alert.acknowledge",
      "webhook.add",
      "webhook.update",
      "webhook.rotate_secret",
      "webhook.delete",
      "webhook.disable",
    ];
    for (const action of recorded) {
      expect(actionLabel(action)).not.toBe(action);
      const words = eventInWords(event(action, null, { actor: null, actorSystem: "webhooks" }));
      expect(words).not.toContain(action);
      expect(words).not.toMatch(/undefined|null|NaN|\[object/);
    }
  });
});

describe("actionLabel", () => {
  it("names known actions in words", () => {
    expect(actionLabel("api_key.rotate")).toBe("API key rotated");
    expect(actionLabel("something.new")).toBe("something.new");
  });
});
