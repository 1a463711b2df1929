import type { LlmProvider } from "../../gql/graphql";

/** Every provider the schema knows, in its order; a new enum value fails to type-check here. */
export const PROVIDERS: Record<LlmProvider, { name: string; secretPlaceholder: string }> = {
  OPENAI: { name: "OpenAI", secretPlaceholder: "sk-…" },
  ANTHROPIC: { name: "Anthropic", secretPlaceholder: "sk-ant-…" },
};

export const PROVIDER_ORDER = Object.keys(PROVIDERS) as LlmProvider[];

export function providerName(provider: LlmProvider): string {
  return PROVIDERS[provider].name;
}
