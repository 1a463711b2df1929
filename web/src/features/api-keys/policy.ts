import { addItems } from "../../components/ChipsInput";
import type {
  ApiKeyPolicyFieldsFragment,
  ApiKeyPolicyInput,
  ApiKeyScope,
  BudgetInput,
  BudgetPeriod,
  SpendBudgetInput,
} from "../../gql/graphql";

/**
 * A key's policy as a form holds it (text as typed, lists as chips) and back as the
 * `ApiKeyPolicyInput` that replaces it. Blank means "no limit", an empty list "any". The
 * browser checks only that numbers are numbers; every range is the service's to judge, and its
 * userErrors land on these fields (`POLICY_FIELDS`, under the input's `policy`).
 */

export const POLICY_FIELDS = [
  "scopes",
  "allowedModels",
  "allowedIps",
  "requestsPerMinute",
  "tokensPerMinute",
  "maxConcurrentRequests",
  "tokenBudget",
  "spendBudgetUsd",
] as const;

export type PolicyField = (typeof POLICY_FIELDS)[number];

export const BUDGET_FIELDS = ["tokenBudget", "spendBudgetUsd"] as const;

export type BudgetField = (typeof BUDGET_FIELDS)[number];

export type BudgetValues = {
  tokenLimit: string;
  tokenPeriod: BudgetPeriod;
  spendLimit: string;
  spendPeriod: BudgetPeriod;
};

export type PolicyValues = {
  scopes: Record<ApiKeyScope, boolean>;
  models: { values: string[]; pending: string };
  ips: { values: string[]; pending: string };
  requestsPerMinute: string;
  tokensPerMinute: string;
  maxConcurrentRequests: string;
  budgets: BudgetValues;
};

type Budget = { limit: number | string; period: BudgetPeriod } | null | undefined;

export function budgetValues(tokens: Budget, spend: Budget): BudgetValues {
  return {
    tokenLimit: tokens ? String(tokens.limit) : "",
    tokenPeriod: tokens?.period ?? "MONTH",
    spendLimit: spend ? String(spend.limit) : "",
    spendPeriod: spend?.period ?? "MONTH",
  };
}

export function policyValues(policy: ApiKeyPolicyFieldsFragment): PolicyValues {
  return {
    scopes: { PROXY: policy.scopes.includes("PROXY"), READ: policy.scopes.includes("READ") },
    models: { values: [...(policy.allowedModels ?? [])], pending: "" },
    ips: { values: [...(policy.allowedIps ?? [])], pending: "" },
    requestsPerMinute: numberText(policy.requestsPerMinute),
    tokensPerMinute: numberText(policy.tokensPerMinute),
    maxConcurrentRequests: numberText(policy.maxConcurrentRequests),
    budgets: budgetValues(policy.tokenBudget, policy.spendBudgetUsd),
  };
}

function numberText(value: number | null | undefined): string {
  return value === null || value === undefined ? "" : String(value);
}

/** GraphQL's Int is 32 bits: a larger number would be refused before the service reads it. */
const MAX_INT = 2_147_483_647;

type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

/** A whole number as typed ("5,000,000", " 60 "), or null for blank. */
export function parseWholeNumber(text: string): Parsed<number | null> {
  const cleaned = text.replace(/[\s,_']/g, "");
  if (cleaned === "") return { ok: true, value: null };
  if (!/^\d+$/.test(cleaned)) return { ok: false, message: "Enter a whole number, or leave it blank for no limit." };
  const value = Number(cleaned);
  if (value > MAX_INT) return { ok: false, message: `Enter at most ${MAX_INT.toLocaleString("en")}.` };
  return { ok: true, value };
}

/** A USD amount as typed ("50", "$12.50"), sent as the decimal string the service takes. */
export function parseUsd(text: string): Parsed<string | null> {
  const cleaned = text.replace(/[\s,]/g, "").replace(/^\$/, "");
  if (cleaned === "") return { ok: true, value: null };
  if (!/^\d+(\.\d+)?$/.test(cleaned)) return { ok: false, message: "Enter an amount in USD such as 50.00, or leave it blank." };
  return { ok: true, value: cleaned };
}

export type BudgetsInput = { tokenBudget: BudgetInput | null; spendBudgetUsd: SpendBudgetInput | null };

export type Check<T, F extends string> = { ok: true; input: T } | { ok: false; fields: Partial<Record<F, string>> };

export function checkBudgets(values: BudgetValues): Check<BudgetsInput, BudgetField> {
  const fields: Partial<Record<BudgetField, string>> = {};
  const tokens = parseWholeNumber(values.tokenLimit);
  const spend = parseUsd(values.spendLimit);
  if (!tokens.ok) fields.tokenBudget = tokens.message;
  if (!spend.ok) fields.spendBudgetUsd = spend.message;
  if (!tokens.ok || !spend.ok) return { ok: false, fields };
  return {
    ok: true,
    input: {
      tokenBudget: tokens.value === null ? null : { limit: tokens.value, period: values.tokenPeriod },
      spendBudgetUsd: spend.value === null ? null : { limit: spend.value, period: values.spendPeriod },
    },
  };
}

export function checkPolicy(values: PolicyValues): Check<ApiKeyPolicyInput, PolicyField> {
  const fields: Partial<Record<PolicyField, string>> = {};
  const limits = {
    requestsPerMinute: parseWholeNumber(values.requestsPerMinute),
    tokensPerMinute: parseWholeNumber(values.tokensPerMinute),
    maxConcurrentRequests: parseWholeNumber(values.maxConcurrentRequests),
  };
  for (const [name, parsed] of Object.entries(limits) as Array<[PolicyField, Parsed<number | null>]>) {
    if (!parsed.ok) fields[name] = parsed.message;
  }
  const budgets = checkBudgets(values.budgets);
  if (!budgets.ok) Object.assign(fields, budgets.fields);
  if (Object.keys(fields).length > 0 || !budgets.ok) return { ok: false, fields };
  const value = (parsed: Parsed<number | null>) => (parsed.ok ? parsed.value : null);
  const models = addItems(values.models.values, values.models.pending);
  const ips = addItems(values.ips.values, values.ips.pending);
  return {
    ok: true,
    input: {
      scopes: (["PROXY", "READ"] as const).filter((scope) => values.scopes[scope]),
      allowedModels: models.length > 0 ? models : null,
      allowedIps: ips.length > 0 ? ips : null,
      requestsPerMinute: value(limits.requestsPerMinute),
      tokensPerMinute: value(limits.tokensPerMinute),
      maxConcurrentRequests: value(limits.maxConcurrentRequests),
      ...budgets.input,
    },
  };
}
