import { describe, expect, it } from "vitest";

import { formatSeconds, formatUsd, usdValue } from "./numbers";

describe("formatUsd", () => {
  it("keeps the digits that matter and at least cents", () => {
    expect(formatUsd("0.012500")).toBe("$0.0125");
    expect(formatUsd("50")).toBe("$50.00");
    expect(formatUsd("50.000000")).toBe("$50.00");
    expect(formatUsd("1234567.5")).toBe("$1,234,567.50");
  });

  it("shows what it cannot read as it came", () => {
    expect(formatUsd("n/a")).toBe("n/a");
  });
});

describe("usdValue", () => {
  it("reads the decimal string for drawing", () => {
    expect(usdValue("0.0125")).toBe(0.0125);
    expect(usdValue("oops")).toBe(0);
  });
});

describe("formatSeconds", () => {
  it("uses the largest unit that divides the span", () => {
    expect(formatSeconds(0)).toBe("0 seconds");
    expect(formatSeconds(900)).toBe("15 minutes");
    expect(formatSeconds(3600)).toBe("1 hour");
    expect(formatSeconds(86_400)).toBe("1 day");
    expect(formatSeconds(604_800)).toBe("7 days");
    expect(formatSeconds(5400)).toBe("90 minutes");
  });
});
