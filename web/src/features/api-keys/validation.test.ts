import { describe, expect, it } from "vitest";

import { checkApiKeyForm, checkNote } from "./validation";

describe("checkApiKeyForm", () => {
  it("sends a trimmed note and no expiry when the date is blank", () => {
    expect(checkApiKeyForm({ note: "  Production backend ", expiresAt: "" })).toEqual({
      ok: true,
      input: { note: "Production backend", expiresAt: null },
    });
  });

  it("sends the local date and time as a UTC instant", () => {
    const check = checkApiKeyForm({ note: "CI", expiresAt: "2027-01-31T09:00" });
    expect(check.ok).toBe(true);
    if (!check.ok) return;
    expect(check.input.expiresAt).toBe(new Date(2027, 0, 31, 9, 0).toISOString());
    expect(check.input.expiresAt).toMatch(/Z$/);
  });

  it("reports a blank note and a malformed date together", () => {
    const check = checkApiKeyForm({ note: "   ", expiresAt: "31/01/2027" });
    expect(check.ok).toBe(false);
    if (check.ok) return;
    expect(Object.keys(check.fields).sort()).toEqual(["expiresAt", "note"]);
  });

  it("leaves a past date to the service, which knows the time", () => {
    expect(checkApiKeyForm({ note: "old", expiresAt: "2001-01-01T00:00" }).ok).toBe(true);
  });
});

describe("checkNote", () => {
  it("needs some text", () => {
    expect(checkNote(" ")).not.toBeNull();
    expect(checkNote("Staging")).toBeNull();
  });
});
