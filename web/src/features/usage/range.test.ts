import { describe, expect, it } from "vitest";

import { customRange, datesOf, parseChoice, presetRange } from "./range";

const NOW = new Date("2026-12-08T14:37:12.345Z");

describe("presetRange", () => {
  it("shows the last 24 hours by hour, the current hour last", () => {
    expect(presetRange("24h", NOW)).toEqual({
      from: "2026-12-07T15:00:00Z",
      to: "2026-12-08T15:00:00Z",
      granularity: "HOUR",
      label: "the last 24 hours",
    });
  });

  it("shows the last 7 and 30 days by UTC day, today last", () => {
    expect(presetRange("7d", NOW)).toMatchObject({
      from: "2026-12-02T00:00:00Z",
      to: "2026-12-09T00:00:00Z",
      granularity: "DAY",
    });
    expect(presetRange("30d", NOW)).toMatchObject({
      from: "2026-11-09T00:00:00Z",
      to: "2026-12-09T00:00:00Z",
    });
  });

  it("starts at a whole hour exactly on the hour", () => {
    expect(presetRange("24h", new Date("2026-12-08T15:00:00Z")).to).toBe("2026-12-08T16:00:00Z");
  });
});

describe("customRange", () => {
  it("covers whole UTC days, the last one included", () => {
    expect(customRange({ from: "2026-12-01", to: "2026-12-03", granularity: "DAY" })).toEqual({
      ok: true,
      range: {
        from: "2026-12-01T00:00:00Z",
        to: "2026-12-04T00:00:00Z",
        granularity: "DAY",
        label: "2026-12-01 to 2026-12-03 (UTC)",
      },
    });
  });

  it("leaves a reversed or too long range to the service", () => {
    const reversed = customRange({ from: "2026-12-05", to: "2026-12-01", granularity: "DAY" });
    expect(reversed.ok).toBe(true);
    const long = customRange({ from: "2024-01-01", to: "2026-12-01", granularity: "HOUR" });
    expect(long.ok).toBe(true);
  });

  it("names the field that is not a day", () => {
    expect(customRange({ from: "2026-12-01", to: "", granularity: "DAY" })).toEqual({
      ok: false,
      field: "to",
      message: "Choose a day.",
    });
    expect(customRange({ from: "2026-13-45", to: "2026-12-01", granularity: "DAY" })).toMatchObject({
      ok: false,
      field: "from",
    });
  });
});

describe("datesOf", () => {
  it("gives a preset's first and last day", () => {
    expect(datesOf(presetRange("7d", NOW))).toEqual({ from: "2026-12-02", to: "2026-12-08" });
  });
});

describe("parseChoice", () => {
  it("falls back to the last 24 hours", () => {
    expect(parseChoice(null)).toBe("24h");
    expect(parseChoice("30d")).toBe("30d");
    expect(parseChoice("1y")).toBe("24h");
  });
});
