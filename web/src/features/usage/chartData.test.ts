import { describe, expect, it } from "vitest";

import { bucketLabel, busiest, chartColumns, errorRate, hasTraffic, type Point } from "./chartData";

function point(start: string, requests = 0, errors = 0, spendUsd = "0", tokens = 0): Point {
  return { start, requests, errors, inputTokens: tokens, outputTokens: tokens, spendUsd, unpricedTokens: 0 };
}

describe("chartColumns", () => {
  it("puts each bucket at its start in Unix seconds, empty buckets as zeros", () => {
    const columns = chartColumns([
      point("2026-12-08T13:00:00Z", 5, 1, "0.0125", 10),
      point("2026-12-08T14:00:00Z"),
    ]);
    expect(columns.x).toEqual([Date.UTC(2026, 11, 8, 13) / 1000, Date.UTC(2026, 11, 8, 14) / 1000]);
    expect(columns.requests).toEqual([5, 0]);
    expect(columns.errors).toEqual([1, 0]);
    expect(columns.inputTokens).toEqual([10, 0]);
    expect(columns.spend).toEqual([0.0125, 0]);
  });

  it("has no columns for no points", () => {
    expect(chartColumns([]).x).toEqual([]);
  });
});

describe("hasTraffic", () => {
  it("tells an empty range from a busy one", () => {
    expect(hasTraffic(point("2026-12-08T00:00:00Z"))).toBe(false);
    expect(hasTraffic(point("2026-12-08T00:00:00Z", 1))).toBe(true);
    expect(hasTraffic({ ...point("2026-12-08T00:00:00Z"), unpricedTokens: 3 })).toBe(true);
  });
});

describe("bucketLabel", () => {
  it("names a day by its UTC date whatever the time zone", () => {
    expect(bucketLabel("2026-12-08T00:00:00Z", "DAY")).toContain("2026");
    expect(bucketLabel("2026-12-08T00:00:00Z", "DAY")).toContain("8");
  });
});

describe("errorRate and busiest", () => {
  it("has no rate without requests", () => {
    expect(errorRate({ requests: 0, errors: 0 })).toBeNull();
    expect(errorRate({ requests: 4, errors: 1 })).toBe(0.25);
  });

  it("finds the busiest bucket, none when all are empty", () => {
    const points = [point("a", 1), point("b", 7), point("c", 3)];
    expect(busiest(points)?.start).toBe("b");
    expect(busiest([point("a")])).toBeNull();
  });
});
