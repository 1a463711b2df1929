"""GraphQL face of key policies and budgets: `ApiKey.policy`, `budgetUsage`, their inputs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from app.api_keys.policy import (
    BudgetPeriod,
    Budgets,
    BudgetsInput,
    KeyPolicy,
    PolicyInput,
    Scope,
)
from app.graphql.cost import list_bound
from app.graphql.enums import described_enum
from app.money import usd
from app.usage.service import BudgetStanding, BudgetUsage

ApiKeyScopeEnum = described_enum(
    Scope,
    name="ApiKeyScope",
    description="PROXY: may call the models through /v1. READ: may read its project over GraphQL.",
    values={
        Scope.PROXY: "Call models through the OpenAI- and Anthropic-compatible routes under /v1.",
        Scope.READ: "Read its own project over GraphQL, the key as the bearer token.",
    },
)
BudgetPeriodEnum = described_enum(
    BudgetPeriod,
    name="BudgetPeriod",
    description="A UTC calendar day or month: a budget starts again at its end.",
    values={
        BudgetPeriod.DAY: "From 00:00 UTC to the next 00:00 UTC.",
        BudgetPeriod.MONTH: "From 00:00 UTC on the 1st to the next month's 1st.",
    },
)


def _period_field() -> Any:
    return strawberry.field(description="The period the limit counts over.")


@strawberry.type(name="TokenBudget", description="Tokens (input + output) per period.")
class TokenBudgetType:
    limit: int = strawberry.field(description="Tokens per period (1-2,000,000,000).")
    period: BudgetPeriodEnum = _period_field()  # type: ignore[valid-type]


@strawberry.type(
    name="SpendBudget",
    description="Spend in USD per period, at the models' prices; requests for models without a "
    "price count against token budgets only.",
)
class SpendBudgetType:
    limit: str = strawberry.field(description='A decimal amount in USD, e.g. "50.00".')
    period: BudgetPeriodEnum = _period_field()  # type: ignore[valid-type]


@strawberry.type(
    name="ApiKeyPolicy",
    description="What a key may do. Null fields: no limit; a key without a policy has both "
    "scopes and no limits.",
)
class ApiKeyPolicyType:
    scopes: list[ApiKeyScopeEnum] = strawberry.field(  # type: ignore[valid-type]
        description="What the key may be used for: one scope or both.",
        metadata=list_bound(len(Scope)),
    )
    allowed_models: list[str] | None = strawberry.field(
        description="Model ids the key may use (exactly as listed); null: every model.",
        metadata=list_bound(100),
    )
    allowed_ips: list[str] | None = strawberry.field(
        description="Addresses and CIDR ranges the key may be used from; null: any.",
        metadata=list_bound(100),
    )
    requests_per_minute: int | None = strawberry.field(
        description="Requests per minute; past it, HTTP 429 with Retry-After."
    )
    tokens_per_minute: int | None = strawberry.field(
        description="Input + output tokens, counted when each response ends."
    )
    max_concurrent_requests: int | None = strawberry.field(
        description="Requests in flight at once; past it, HTTP 429."
    )
    token_budget: TokenBudgetType | None = strawberry.field(
        description="The key's own token budget; the project's applies too."
    )
    spend_budget_usd: SpendBudgetType | None = strawberry.field(
        description="The key's own spend budget; the project's applies too."
    )

    @classmethod
    def of(cls, policy: KeyPolicy) -> ApiKeyPolicyType:
        budgets = budget_types(policy.budgets)
        return cls(
            scopes=sorted(policy.scopes),
            allowed_models=list(policy.model_list) if policy.model_list is not None else None,
            allowed_ips=list(policy.ip_list) if policy.ip_list is not None else None,
            requests_per_minute=policy.requests_per_minute,
            tokens_per_minute=policy.tokens_per_minute,
            max_concurrent_requests=policy.max_concurrent_requests,
            token_budget=budgets[0],
            spend_budget_usd=budgets[1],
        )


def budget_types(budgets: Budgets) -> tuple[TokenBudgetType | None, SpendBudgetType | None]:
    tokens = (
        TokenBudgetType(limit=budgets.tokens.limit, period=budgets.tokens.period)
        if budgets.tokens
        else None
    )
    spend = (
        SpendBudgetType(limit=usd(budgets.spend.limit_micros), period=budgets.spend.period)
        if budgets.spend
        else None
    )
    return tokens, spend


@strawberry.type(name="TokenBudgetUsage", description="A token budget in its current period.")
class TokenBudgetUsageType:
    limit: int = strawberry.field(description="Tokens per period.")
    used: float = strawberry.field(
        description="Tokens used this period, as recorded (a few seconds behind at most)."
    )
    period: BudgetPeriodEnum = _period_field()  # type: ignore[valid-type]
    resets_at: datetime = strawberry.field(description="When the period ends.")


@strawberry.type(name="SpendBudgetUsage", description="A spend budget in its current period.")
class SpendBudgetUsageType:
    limit: str = strawberry.field(description='USD per period, e.g. "50.00".')
    used: str = strawberry.field(description="USD spent this period, at the models' prices.")
    unpriced_tokens: float = strawberry.field(
        description="Tokens of models without a price this period: not in `used`."
    )
    period: BudgetPeriodEnum = _period_field()  # type: ignore[valid-type]
    resets_at: datetime = strawberry.field(description="When the period ends.")


@strawberry.type(
    name="BudgetUsage", description="Where the budgets stand; null fields: no such budget."
)
class BudgetUsageType:
    tokens: TokenBudgetUsageType | None = strawberry.field(description="The token budget.")
    spend_usd: SpendBudgetUsageType | None = strawberry.field(description="The spend budget.")

    @classmethod
    def of(cls, usage: BudgetUsage) -> BudgetUsageType:
        return cls(
            tokens=_token_usage(usage.tokens) if usage.tokens else None,
            spend_usd=_spend_usage(usage.spend) if usage.spend else None,
        )


def _token_usage(standing: BudgetStanding) -> TokenBudgetUsageType:
    return TokenBudgetUsageType(
        limit=standing.limit,
        used=float(standing.used),
        period=standing.period,
        resets_at=standing.resets_at,
    )


def _spend_usage(standing: BudgetStanding) -> SpendBudgetUsageType:
    return SpendBudgetUsageType(
        limit=usd(standing.limit),
        used=usd(standing.used),
        unpriced_tokens=float(standing.unpriced_tokens),
        period=standing.period,
        resets_at=standing.resets_at,
    )


@strawberry.input(name="BudgetInput", description="Tokens (input + output) per period.")
class BudgetInput:
    limit: int = strawberry.field(description="1 to 2,000,000,000 tokens.")
    period: BudgetPeriodEnum = _period_field()  # type: ignore[valid-type]


@strawberry.input(name="SpendBudgetInput", description="Spend in USD per period.")
class SpendBudgetInput:
    limit: str = strawberry.field(
        description='USD as a decimal string, e.g. "50.00": above 0, at most 10,000,000, at '
        "most 6 decimals."
    )
    period: BudgetPeriodEnum = _period_field()  # type: ignore[valid-type]


@strawberry.input(
    name="ApiKeyPolicyInput",
    description="A whole policy: fields left out or null mean no limit (scopes: both).",
)
class ApiKeyPolicyInput:
    scopes: list[ApiKeyScopeEnum] | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="One scope or both; an empty list is refused; null: both."
    )
    allowed_models: list[str] | None = strawberry.field(
        default=None, description="At most 100 model ids of the project's `models`."
    )
    allowed_ips: list[str] | None = strawberry.field(
        default=None,
        description="At most 100 IPv4/IPv6 addresses or CIDR ranges, e.g. 203.0.113.0/24.",
    )
    requests_per_minute: int | None = strawberry.field(default=None, description="1-1,000,000.")
    tokens_per_minute: int | None = strawberry.field(default=None, description="1-1,000,000,000.")
    max_concurrent_requests: int | None = strawberry.field(default=None, description="1-10,000.")
    token_budget: BudgetInput | None = strawberry.field(
        default=None, description="The key's own token budget; null: none."
    )
    spend_budget_usd: SpendBudgetInput | None = strawberry.field(
        default=None, description="The key's own spend budget; null: none."
    )

    def to_input(self) -> PolicyInput:
        return PolicyInput(
            scopes=[Scope(scope) for scope in self.scopes] if self.scopes is not None else None,
            allowed_models=self.allowed_models,
            allowed_ips=self.allowed_ips,
            requests_per_minute=self.requests_per_minute,
            tokens_per_minute=self.tokens_per_minute,
            max_concurrent_requests=self.max_concurrent_requests,
            token_budget=_token(self.token_budget),
            spend_budget=_spend(self.spend_budget_usd),
        )


def budgets_input(tokens: BudgetInput | None, spend: SpendBudgetInput | None) -> BudgetsInput:
    return BudgetsInput(token_budget=_token(tokens), spend_budget=_spend(spend))


def _token(budget: BudgetInput | None) -> tuple[int, str] | None:
    return (budget.limit, BudgetPeriod(budget.period).value) if budget else None


def _spend(budget: SpendBudgetInput | None) -> tuple[str, str] | None:
    return (budget.limit, BudgetPeriod(budget.period).value) if budget else None
