import { describe, expect, it } from "vitest";

import { alertKindLabel, evidenceInWords } from "./evidence";

describe("evidenceInWords", () => {
  it("names the unfamiliar address and the key's habits", () => {
    const words = evidenceInWords("UNFAMILIAR_IP", {
      ip: "203.0.113.9",
      requests: 37,
      knownAddresses: 2,
      keyInUseSince: "2026-11-02T10:30:00+00:00",
    });
    expect(words).toMatch(/^37 requests from 203\.0\.113\.9, an address this key had not used lately; until then it had been used from 2 addresses since .*2026\.$/);
  });

  it("says one request, not one requests", () => {
    expect(evidenceInWords("UNFAMILIAR_IP", { ip: "192.0.2.1", requests: 1, knownAddresses: 1 })).toBe(
      "1 request from 192.0.2.1, an address this key had not used lately; until then it had been used from 1 address.",
    );
  });

  it("compares a spike with the usual hour and the threshold", () => {
    expect(evidenceInWords("REQUEST_SPIKE", { requests: 412, trailingMedian: 12, threshold: 100 })).toBe(
      "412 requests in one hour, against 12 in a usual hour (the alert is raised above 100).",
    );
    expect(evidenceInWords("ERROR_SPIKE", { errors: 57, trailingMedian: 2.5, threshold: 20 })).toBe(
      "57 errors in one hour, against 2.5 in a usual hour (the alert is raised above 20).",
    );
  });

  it("says whether the key presented again was deleted or expired, and from where", () => {
    const words = evidenceInWords("REVOKED_KEY_IN_USE", {
      reason: "revoked",
      ip: "192.0.2.200",
      at: "2026-11-02T10:30:00+00:00",
    });
    expect(words).toMatch(/^The deleted key was presented from 192\.0\.2\.200 at .*; it was refused/);
    expect(evidenceInWords("REVOKED_KEY_IN_USE", { reason: "expired", ip: null, at: null })).toBe(
      "The expired key was presented; it was refused, but whoever sent it still has it.",
    );
  });

  it("says where a leaked key was found, by whom, and what was done", () => {
    expect(
      evidenceInWords("KEY_LEAKED", {
        reportedBy: "github_secret_scanning",
        action: "revoked",
        url: "https://github.com/octo/app/blob/1a2b/config.py",
        source: "content",
      }),
    ).toBe(
      "Found in public by GitHub secret scanning at https://github.com/octo/app/blob/1a2b/config.py (content); the key was deleted at once.",
    );
    expect(evidenceInWords("KEY_LEAKED", { reportedBy: "scanner", action: "alerted", place: "repo/.env:3" })).toBe(
      "Found in public by our scanner at repo/.env:3; the key still works: replace it and delete it.",
    );
  });

  it("leaves out what the evidence lacks instead of printing undefined", () => {
    for (const evidence of [{}, null, "junk", { requests: "many" }]) {
      for (const kind of ["UNFAMILIAR_IP", "REQUEST_SPIKE", "ERROR_SPIKE", "REVOKED_KEY_IN_USE", "KEY_LEAKED"] as const) {
        const words = evidenceInWords(kind, evidence);
        expect(words).not.toMatch(/undefined|null|NaN|\[object/);
        expect(words.endsWith(".")).toBe(true);
      }
    }
  });
});

describe("alertKindLabel", () => {
  it("names each kind in words", () => {
    expect(alertKindLabel("REQUEST_SPIKE")).toBe("Request spike");
  });
});
