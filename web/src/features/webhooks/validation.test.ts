import { describe, expect, it } from "vitest";

import { checkUrl, checkWebhookForm, isPlainHttp, previousSecretStillSigns, webhookState } from "./validation";

describe("checkUrl", () => {
  it("takes an https or http URL", () => {
    expect(checkUrl("https://hooks.example.com/traylinx?token=abc")).toBeNull();
    expect(checkUrl("  http://127.0.0.1:8080/hooks  ")).toBeNull();
  });

  it("asks for a URL when there is none", () => {
    expect(checkUrl("   ")).toMatch(/^Enter the URL/);
  });

  it("refuses what is not a full http(s) URL", () => {
    expect(checkUrl("hooks.example.com/traylinx")).toBe("Enter a full URL, starting with https://.");
    expect(checkUrl("ftp://example.com/hooks")).toBe("The URL must start with https:// (or http://).");
    expect(checkUrl("javascript:alert(1)")).toBe("The URL must start with https:// (or http://).");
  });

  it("refuses credentials and fragments, as the service does", () => {
    expect(checkUrl("https://user:secret@example.com/hooks")).toMatch(/must not carry a user name or password/);
    expect(checkUrl("https://example.com/hooks#here")).toBe("The URL must not have a #fragment.");
  });

  it("refuses a URL longer than the service stores", () => {
    expect(checkUrl(`https://example.com/${"a".repeat(2100)}`)).toBe("The URL must be at most 2048 characters.");
  });

  it("leaves private and loopback addresses to the service", () => {
    expect(checkUrl("https://localhost/hooks")).toBeNull();
    expect(checkUrl("https://10.0.0.5/hooks")).toBeNull();
  });
});

describe("checkWebhookForm", () => {
  it("reports the URL and the events at once", () => {
    expect(checkWebhookForm({ url: "", events: [] })).toEqual({
      ok: false,
      fields: { url: expect.stringMatching(/^Enter the URL/), events: "Choose at least one event." },
    });
  });

  it("sends the trimmed URL and the events", () => {
    expect(checkWebhookForm({ url: " https://example.com/h ", events: ["KEY_LEAKED"] })).toEqual({
      ok: true,
      input: { url: "https://example.com/h", events: ["KEY_LEAKED"] },
    });
  });

  it("notices plain http, to warn about it", () => {
    expect(isPlainHttp("http://example.com")).toBe(true);
    expect(isPlainHttp("HTTPS://example.com")).toBe(false);
  });
});

describe("webhookState", () => {
  it("is enabled while deliveries succeed", () => {
    expect(webhookState({ enabled: true })).toEqual({ label: "Enabled", tone: "success", detail: null });
  });

  it("warns while every attempt fails, before the service disables it", () => {
    const state = webhookState({ enabled: true, failingSince: "2026-12-01T10:00:00Z" });
    expect(state.label).toBe("Failing");
    expect(state.detail).toMatch(/^Every attempt has failed since .+\. After 3 days of failures it is disabled\.$/);
  });

  it("says why the service disabled it, and how to start again", () => {
    const state = webhookState({
      enabled: false,
      disabledAt: "2026-12-02T10:00:00Z",
      disabledReason: "Every delivery failed for 3 days; disabled 2026-12-02 10:00 UTC.",
    });
    expect(state).toMatchObject({ label: "Disabled", tone: "danger" });
    expect(state.detail).toBe(
      "Every delivery failed for 3 days; disabled 2026-12-02 10:00 UTC. Nothing is sent to it. " +
        "Fix the endpoint, send a test delivery, then enable it again.",
    );
  });

  it("tells a webhook turned off by a person from one the service disabled", () => {
    expect(webhookState({ enabled: false })).toMatchObject({ label: "Disabled", tone: "neutral" });
  });
});

describe("previousSecretStillSigns", () => {
  const now = Date.parse("2026-12-02T12:00:00Z");
  it("is true until the overlap ends", () => {
    expect(previousSecretStillSigns("2026-12-03T11:00:00Z", now)).toBe(true);
    expect(previousSecretStillSigns("2026-12-02T11:00:00Z", now)).toBe(false);
    expect(previousSecretStillSigns(null, now)).toBe(false);
  });
});
