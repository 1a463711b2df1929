import { describe, expect, it } from "vitest";

import { formatRelative, formatWindow, localInputToUtc, utcToLocalInput } from "./dates";

describe("dates", () => {
  it("turns a datetime-local value into UTC and back", () => {
    const result = localInputToUtc("2027-06-15T14:30");
    expect(result.ok).toBe(true);
    if (!result.ok || result.value === null) return;
    expect(utcToLocalInput(result.value)).toBe("2027-06-15T14:30");
  });

  it("treats blank as never", () => {
    expect(localInputToUtc("  ")).toEqual({ ok: true, value: null });
  });

  it("refuses what is not a date", () => {
    expect(localInputToUtc("tomorrow").ok).toBe(false);
    expect(localInputToUtc("2027-02-30T25:00").ok).toBe(false);
  });

  it("says how long ago", () => {
    const now = Date.parse("2026-12-02T10:00:00Z");
    expect(formatRelative("2026-12-02T09:59:30Z", now)).toBe("just now");
    expect(formatRelative("2026-12-02T09:57:00Z", now)).toMatch(/3 minutes ago/);
  });
});

describe("formatWindow", () => {
  it("names the end by its time alone on the same day", () => {
    const words = formatWindow("2026-12-08T13:00:00Z", "2026-12-08T14:00:00Z");
    expect(words).toContain("–");
    expect(words.split("–")[1]?.trim()).not.toMatch(/2026/);
  });

  it("shows one instant for a window of one moment", () => {
    expect(formatWindow("2026-12-08T13:00:00Z", "2026-12-08T13:00:20Z")).not.toContain("–");
  });
});
