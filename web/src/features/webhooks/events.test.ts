import { describe, expect, it } from "vitest";

import { DEFAULT_EVENTS, EVENTS, SUBSCRIBABLE_EVENTS, changedFields, eventLabel, inFormOrder } from "./events";

describe("webhook events", () => {
  it("offers every event but the test one, each with a label and a sentence", () => {
    expect(SUBSCRIBABLE_EVENTS).not.toContain("WEBHOOK_TEST");
    expect(new Set(SUBSCRIBABLE_EVENTS).size).toBe(Object.keys(EVENTS).length - 1);
    for (const event of SUBSCRIBABLE_EVENTS) {
      const info = EVENTS[event];
      expect(info.label).not.toBe("");
      expect(info.sentence).toMatch(/^[A-Z].*\.$/);
      expect(info.type).toMatch(/^[a-z_]+\.[a-z_]+$/);
    }
  });

  it("names each event the way its payload's type does", () => {
    expect(EVENTS.KEY_LEAKED.type).toBe("api_key.leaked");
    expect(EVENTS.WEBHOOK_TEST.type).toBe("webhook.test");
    expect(eventLabel("BUDGET_THRESHOLD_REACHED")).toBe("Budget threshold reached");
  });

  it("keeps the chosen events in the form's order, once each", () => {
    expect(inFormOrder(["API_KEY_DELETED", "SECURITY_ALERT_RAISED", "API_KEY_DELETED"])).toEqual([
      "SECURITY_ALERT_RAISED",
      "API_KEY_DELETED",
    ]);
  });

  it("starts a new webhook on the security events", () => {
    expect(DEFAULT_EVENTS).toEqual(["SECURITY_ALERT_RAISED", "KEY_LEAKED"]);
  });

  it("sends only what an edit changed", () => {
    const current = { url: "https://a.example/h", events: ["KEY_LEAKED", "API_KEY_CREATED"] as const, enabled: true };
    expect(changedFields(current, { ...current, events: ["API_KEY_CREATED", "KEY_LEAKED"] })).toEqual({});
    expect(changedFields(current, { ...current, url: "https://b.example/h", enabled: false })).toEqual({
      url: "https://b.example/h",
      enabled: false,
    });
    expect(changedFields(current, { ...current, events: ["KEY_LEAKED"] })).toEqual({ events: ["KEY_LEAKED"] });
  });
});
