import { describe, expect, it } from "vitest";

import { formatPercent, formatSeconds, formatUsd, pageSummary, usdValue } from "./numbers";

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

describe("formatPercent", () => {
  it("says a tiny share is under 0.1% rather than 0%", () => {
    expect(formatPercent(0)).toBe("0%");
    expect(formatPercent(0.0004)).toBe("<0.1%");
    expect(formatPercent(0.125)).toBe("12.5%");
  });
});

describe("pageSummary", () => {
  it("counts a list that fits one page, and places a page in a longer one", () => {
    expect(pageSummary(0, 1, 1, ["member", "members"])).toBe("1 member");
    expect(pageSummary(0, 3, 3, ["member", "members"])).toBe("3 members");
    expect(pageSummary(20, 20, 45, ["event", "events"])).toBe("21–40 of 45");
  });
});
