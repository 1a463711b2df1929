import { describe, expect, it } from "vitest";

import { awaitingAttempt, deliveriesShown, responseInWords } from "./deliveries";

const now = Date.parse("2026-12-02T12:00:00Z");

describe("awaitingAttempt", () => {
  it("watches a delivery not tried yet, or due within the minute", () => {
    expect(awaitingAttempt([{ status: "PENDING", nextAttemptAt: null }], now)).toBe(true);
    expect(awaitingAttempt([{ status: "PENDING", nextAttemptAt: "2026-12-02T12:00:30Z" }], now)).toBe(true);
  });

  it("does not watch retries hours away, nor finished deliveries", () => {
    expect(awaitingAttempt([{ status: "PENDING", nextAttemptAt: "2026-12-02T14:00:00Z" }], now)).toBe(false);
    expect(awaitingAttempt([{ status: "SUCCEEDED" }, { status: "FAILED" }], now)).toBe(false);
    expect(awaitingAttempt([], now)).toBe(false);
  });
});

describe("responseInWords", () => {
  it("gives the status code and the time", () => {
    expect(responseInWords({ status: "SUCCEEDED", responseStatus: 200, responseTimeMs: 1234 })).toBe("HTTP 200 in 1,234 ms");
    expect(responseInWords({ status: "FAILED", responseStatus: 500 })).toBe("HTTP 500");
    expect(responseInWords({ status: "FAILED", responseStatus: null })).toBeNull();
  });
});

describe("deliveriesShown", () => {
  it("counts what is shown of how many", () => {
    expect(deliveriesShown(1, 1)).toBe("1 delivery");
    expect(deliveriesShown(10, 23)).toBe("10 of 23 deliveries shown");
    expect(deliveriesShown(23, 23)).toBe("23 deliveries");
  });
});
