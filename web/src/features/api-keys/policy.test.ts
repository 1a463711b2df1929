import { describe, expect, it } from "vitest";

import type { ApiKeyPolicyFieldsFragment } from "../../gql/graphql";
import { checkBudgets, checkPolicy, parseUsd, parseWholeNumber, policyValues } from "./policy";

const OPEN: ApiKeyPolicyFieldsFragment = {
  scopes: ["PROXY", "READ"],
  allowedModels: null,
  allowedIps: null,
  requestsPerMinute: null,
  tokensPerMinute: null,
  maxConcurrentRequests: null,
  tokenBudget: null,
  spendBudgetUsd: null,
};

describe("policy form", () => {
  it("sends an open policy back as it was", () => {
    const check = checkPolicy(policyValues(OPEN));
    expect(check).toEqual({
      ok: true,
      input: {
        scopes: ["PROXY", "READ"],
        allowedModels: null,
        allowedIps: null,
        requestsPerMinute: null,
        tokensPerMinute: null,
        maxConcurrentRequests: null,
        tokenBudget: null,
        spendBudgetUsd: null,
      },
    });
  });

  it("reads what was typed: chips and the text still in their field, grouped numbers, budgets", () => {
    const values = policyValues({
      ...OPEN,
      allowedIps: ["203.0.113.0/24"],
      tokenBudget: { limit: 5_000_000, period: "MONTH" },
    });
    values.scopes.READ = false;
    values.ips.pending = "198.51.100.7";
    values.models = { values: ["gpt-4.1-mini"], pending: "" };
    values.requestsPerMinute = "1,000";
    values.budgets.spendLimit = "$50";
    values.budgets.spendPeriod = "DAY";
    expect(checkPolicy(values)).toEqual({
      ok: true,
      input: {
        scopes: ["PROXY"],
        allowedModels: ["gpt-4.1-mini"],
        allowedIps: ["203.0.113.0/24", "198.51.100.7"],
        requestsPerMinute: 1000,
        tokensPerMinute: null,
        maxConcurrentRequests: null,
        tokenBudget: { limit: 5_000_000, period: "MONTH" },
        spendBudgetUsd: { limit: "50", period: "DAY" },
      },
    });
  });

  it("sends no scope at all for the service to refuse next to the field", () => {
    const values = policyValues(OPEN);
    values.scopes = { PROXY: false, READ: false };
    const check = checkPolicy(values);
    expect(check.ok && check.input.scopes).toEqual([]);
  });

  it("reports every number that is not one, at once", () => {
    const values = policyValues(OPEN);
    values.tokensPerMinute = "lots";
    values.budgets.tokenLimit = "99999999999";
    values.budgets.spendLimit = "12,5€";
    const check = checkPolicy(values);
    expect(check.ok).toBe(false);
    if (check.ok) return;
    expect(Object.keys(check.fields).sort()).toEqual(["spendBudgetUsd", "tokenBudget", "tokensPerMinute"]);
  });

  it("leaves ranges to the service: 0 goes out as 0", () => {
    const values = policyValues(OPEN);
    values.maxConcurrentRequests = "0";
    const check = checkPolicy(values);
    expect(check.ok && check.input.maxConcurrentRequests).toBe(0);
  });
});

describe("parsers", () => {
  it("read whole numbers and amounts, blank as none", () => {
    expect(parseWholeNumber(" 60 ")).toEqual({ ok: true, value: 60 });
    expect(parseWholeNumber("")).toEqual({ ok: true, value: null });
    expect(parseWholeNumber("1.5").ok).toBe(false);
    expect(parseUsd("12.50")).toEqual({ ok: true, value: "12.50" });
    expect(parseUsd("-3").ok).toBe(false);
  });

  it("check a project's budgets alone", () => {
    expect(checkBudgets({ tokenLimit: "", tokenPeriod: "DAY", spendLimit: "", spendPeriod: "MONTH" })).toEqual({
      ok: true,
      input: { tokenBudget: null, spendBudgetUsd: null },
    });
  });
});
