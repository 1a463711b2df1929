"""What one project API key may do: its scopes, the models and addresses it may use, its rate
limits and its budgets. Stored with the key (one JSON column), read with it on every request,
enforced by `app/policies/`.

A key without limits is what every key was before policies existed: both scopes, any model, any
address, no limit. `validate_policy` checks a client's input; everything stored went through it.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

import msgspec

from app.errors import FieldProblem, InvalidInput
from app.money import usd_micros

MAX_LISTED = 100
MAX_REQUESTS_PER_MINUTE = 1_000_000
MAX_TOKENS_PER_MINUTE = 1_000_000_000
MAX_CONCURRENT_REQUESTS = 10_000
# GraphQL's Int is 32-bit.
MAX_TOKEN_BUDGET = 2_000_000_000
MAX_SPEND_BUDGET = Decimal("10000000")
# Spend is counted in millionths of a dollar, so budgets and prices have at most 6 decimals.
USD_DECIMALS = 6
MICRO = Decimal(10) ** USD_DECIMALS

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Scope(StrEnum):
    PROXY = "PROXY"  # may call /v1
    READ = "READ"  # may read its project over GraphQL


class BudgetPeriod(StrEnum):
    DAY = "DAY"
    MONTH = "MONTH"


ALL_SCOPES = frozenset(Scope)


@dataclass(frozen=True)
class TokenBudget:
    limit: int
    period: BudgetPeriod


@dataclass(frozen=True)
class SpendBudget:
    # Micro-USD (millionths of a dollar): exact, and what the counters add up.
    limit_micros: int
    period: BudgetPeriod

    @property
    def limit(self) -> Decimal:
        return Decimal(self.limit_micros) / MICRO


@dataclass(frozen=True)
class Budgets:
    """Token and spend budgets, of a key or of a whole project."""

    tokens: TokenBudget | None = None
    spend: SpendBudget | None = None

    @functools.cached_property  # asked on every proxied request
    def any(self) -> bool:
        return self.tokens is not None or self.spend is not None


NO_BUDGETS = Budgets()


@dataclass(frozen=True)
class KeyPolicy:
    scopes: frozenset[Scope] = ALL_SCOPES
    allowed_models: frozenset[str] | None = None
    allowed_ips: tuple[IpNetwork, ...] | None = None
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    max_concurrent_requests: int | None = None
    budgets: Budgets = NO_BUDGETS
    # The lists as given, in order, for reading back.
    model_list: tuple[str, ...] | None = field(default=None, compare=False)
    ip_list: tuple[str, ...] | None = field(default=None, compare=False)
    # Client addresses this policy has decided on: a service sees the same ones again and again.
    _ip_verdicts: dict[str | None, bool] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    @functools.cached_property  # asked on every proxied request
    def limits_anything(self) -> bool:
        """Whether enforcing it needs counters (rate limits, concurrency, budgets)."""
        return (
            self.requests_per_minute is not None
            or self.tokens_per_minute is not None
            or self.max_concurrent_requests is not None
            or self.budgets.any
        )

    def allows_scope(self, scope: Scope) -> bool:
        return scope in self.scopes

    def allows_model(self, model: str) -> bool:
        """Exact: no case folding, no trimming, no prefixes."""
        return self.allowed_models is None or model in self.allowed_models

    def allows_ip(self, client_ip: str | None) -> bool:
        if self.allowed_ips is None:
            return True
        verdict = self._ip_verdicts.get(client_ip)
        if verdict is None:
            if len(self._ip_verdicts) >= _KEPT_VERDICTS:
                self._ip_verdicts.clear()
            address = _address(client_ip)
            verdict = self._ip_verdicts[client_ip] = address is not None and any(
                address in network for network in self.allowed_ips
            )
        return verdict


OPEN_POLICY = KeyPolicy()
_KEPT_VERDICTS = 1024


# A service sees the same client addresses again and again; parsing one costs more than the rest
# of the allow-list check.
@functools.lru_cache(maxsize=4096)
def _address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text or "")
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket (::ffff:203.0.113.7) is that IPv4 client.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


# --- stored form ---------------------------------------------------------------------------------
# A msgspec Struct: the policy is decoded on the request path (PostgreSQL keeps nothing between
# requests), and msgspec decodes it in a couple of microseconds.


class _StoredBudget(msgspec.Struct, omit_defaults=True):
    period: str
    tokens: int | None = None
    micros: int | None = None


class StoredPolicy(msgspec.Struct, omit_defaults=True):
    scopes: list[str] = msgspec.field(default_factory=lambda: [s.value for s in Scope])
    models: list[str] | None = None
    ips: list[str] | None = None
    rpm: int | None = None
    tpm: int | None = None
    concurrent: int | None = None
    token_budget: _StoredBudget | None = None
    spend_budget: _StoredBudget | None = None


class StoredBudgets(msgspec.Struct, omit_defaults=True):
    token_budget: _StoredBudget | None = None
    spend_budget: _StoredBudget | None = None


_policy_decoder = msgspec.json.Decoder(StoredPolicy)
_budgets_decoder = msgspec.json.Decoder(StoredBudgets)
_encoder = msgspec.json.Encoder()
# What a key's policy column holds when it was created without one.
OPEN_POLICY_JSON = '{"scopes":["PROXY","READ"]}'
NO_BUDGETS_JSON = "{}"


def policy_to_json(policy: KeyPolicy) -> str:
    return _encoder.encode(
        StoredPolicy(
            scopes=sorted(policy.scopes),
            models=list(policy.model_list) if policy.model_list is not None else None,
            ips=list(policy.ip_list) if policy.ip_list is not None else None,
            rpm=policy.requests_per_minute,
            tpm=policy.tokens_per_minute,
            concurrent=policy.max_concurrent_requests,
            token_budget=_stored_tokens(policy.budgets.tokens),
            spend_budget=_stored_spend(policy.budgets.spend),
        )
    ).decode()


def budgets_to_json(budgets: Budgets) -> str:
    return _encoder.encode(
        StoredBudgets(
            token_budget=_stored_tokens(budgets.tokens),
            spend_budget=_stored_spend(budgets.spend),
        )
    ).decode()


def policy_from_json(text: str | bytes | None) -> KeyPolicy:
    if not text:
        return OPEN_POLICY
    return _decoded_policy(text)


# Read on every request of a key; a policy's text changes rarely and few differ: the parsed
# policy (immutable, but for the address decisions it remembers) is kept by its text, so address
# ranges are not parsed again each time.
@functools.lru_cache(maxsize=4096)
def _decoded_policy(text: str | bytes) -> KeyPolicy:
    stored = _policy_decoder.decode(text)
    return KeyPolicy(
        scopes=frozenset(Scope(scope) for scope in stored.scopes),
        allowed_models=frozenset(stored.models) if stored.models is not None else None,
        allowed_ips=tuple(_network(ip) for ip in stored.ips) if stored.ips is not None else None,
        requests_per_minute=stored.rpm,
        tokens_per_minute=stored.tpm,
        max_concurrent_requests=stored.concurrent,
        budgets=_budgets(stored.token_budget, stored.spend_budget),
        model_list=tuple(stored.models) if stored.models is not None else None,
        ip_list=tuple(stored.ips) if stored.ips is not None else None,
    )


def budgets_from_json(text: str | bytes | None) -> Budgets:
    if not text:
        return NO_BUDGETS
    return _decoded_budgets(text)


@functools.lru_cache(maxsize=4096)
def _decoded_budgets(text: str | bytes) -> Budgets:
    stored = _budgets_decoder.decode(text)
    return _budgets(stored.token_budget, stored.spend_budget)


def _stored_tokens(budget: TokenBudget | None) -> _StoredBudget | None:
    return _StoredBudget(period=budget.period, tokens=budget.limit) if budget else None


def _stored_spend(budget: SpendBudget | None) -> _StoredBudget | None:
    return _StoredBudget(period=budget.period, micros=budget.limit_micros) if budget else None


def _budgets(tokens: _StoredBudget | None, spend: _StoredBudget | None) -> Budgets:
    return Budgets(
        tokens=TokenBudget(tokens.tokens or 0, BudgetPeriod(tokens.period)) if tokens else None,
        spend=SpendBudget(spend.micros or 0, BudgetPeriod(spend.period)) if spend else None,
    )


def _network(text: str) -> IpNetwork:
    return ipaddress.ip_network(text, strict=False)


# --- periods -------------------------------------------------------------------------------------


def period_bounds(period: BudgetPeriod, now: datetime) -> tuple[datetime, datetime]:
    """The UTC calendar day or month `now` falls in: [start, end)."""
    now = now.astimezone(UTC)
    if period is BudgetPeriod.DAY:
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return start, start + timedelta(days=1)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


def period_label(period: BudgetPeriod, now: datetime) -> str:
    """A name for the period `now` falls in: 2026-12-02 or 2026-12."""
    now = now.astimezone(UTC)
    return now.strftime("%Y-%m-%d") if period is BudgetPeriod.DAY else now.strftime("%Y-%m")


# --- input ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyInput:
    """A client's policy, as sent; None fields: no limit (scopes None: both)."""

    scopes: Sequence[str] | None = None
    allowed_models: Sequence[str] | None = None
    allowed_ips: Sequence[str] | None = None
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    max_concurrent_requests: int | None = None
    token_budget: tuple[int, str] | None = None
    spend_budget: tuple[str, str] | None = None


@dataclass(frozen=True)
class BudgetsInput:
    token_budget: tuple[int, str] | None = None
    spend_budget: tuple[str, str] | None = None


def validate_policy(
    given: PolicyInput, known_models: Collection[str], *, at: tuple[str, ...] = ("policy",)
) -> KeyPolicy:
    """The policy, or InvalidInput naming every field at fault (paths start with `at`)."""
    problems: list[FieldProblem] = []

    def problem(path: tuple[str, ...], message: str) -> None:
        problems.append(FieldProblem(field=(*at, *path), message=message))

    scopes = _valid_scopes(given.scopes, problem)
    models = _valid_models(given.allowed_models, known_models, problem)
    networks, ip_list = _valid_ips(given.allowed_ips, problem)
    limits = {
        "requestsPerMinute": (given.requests_per_minute, MAX_REQUESTS_PER_MINUTE),
        "tokensPerMinute": (given.tokens_per_minute, MAX_TOKENS_PER_MINUTE),
        "maxConcurrentRequests": (given.max_concurrent_requests, MAX_CONCURRENT_REQUESTS),
    }
    for name, (value, maximum) in limits.items():
        if value is not None and not 1 <= value <= maximum:
            problem((name,), f"Use a whole number from 1 to {maximum:,}, or null for no limit.")
    budgets = _valid_budgets(BudgetsInput(given.token_budget, given.spend_budget), problem)
    if problems:
        raise InvalidInput(problems)
    return KeyPolicy(
        scopes=scopes,
        allowed_models=frozenset(models) if models is not None else None,
        allowed_ips=networks,
        requests_per_minute=given.requests_per_minute,
        tokens_per_minute=given.tokens_per_minute,
        max_concurrent_requests=given.max_concurrent_requests,
        budgets=budgets,
        model_list=tuple(models) if models is not None else None,
        ip_list=ip_list,
    )


def validate_budgets(given: BudgetsInput) -> Budgets:
    problems: list[FieldProblem] = []

    def problem(path: tuple[str, ...], message: str) -> None:
        problems.append(FieldProblem(field=path, message=message))

    budgets = _valid_budgets(given, problem)
    if problems:
        raise InvalidInput(problems)
    return budgets


def _valid_scopes(scopes: Sequence[str] | None, problem: Any) -> frozenset[Scope]:
    if scopes is None:
        return ALL_SCOPES
    if not scopes:
        problem(("scopes",), "Give the key at least one scope (PROXY, READ), or leave it null.")
    return frozenset(Scope(scope) for scope in scopes)


def _valid_models(
    models: Sequence[str] | None, known: Collection[str], problem: Any
) -> list[str] | None:
    if models is None:
        return None
    if len(models) > MAX_LISTED:
        problem(("allowedModels",), f"List at most {MAX_LISTED} models.")
        return None
    if not models:
        problem(("allowedModels",), "List at least one model, or null for every model.")
    for index, model in enumerate(models):
        if model not in known:
            shown = model if len(model) <= 60 else model[:60] + "..."
            problem(
                ("allowedModels", str(index)),
                f"`{shown}` is not a model of this project (see `project.models`).",
            )
    return list(dict.fromkeys(models))


def _valid_ips(
    ips: Sequence[str] | None, problem: Any
) -> tuple[tuple[IpNetwork, ...] | None, tuple[str, ...] | None]:
    if ips is None:
        return None, None
    if len(ips) > MAX_LISTED:
        problem(("allowedIps",), f"List at most {MAX_LISTED} addresses or ranges.")
        return None, None
    if not ips:
        problem(("allowedIps",), "List at least one address or range, or null for any address.")
    networks: list[IpNetwork] = []
    for index, text in enumerate(ips):
        try:
            networks.append(ipaddress.ip_network(text.strip(), strict=True))
        except ValueError:
            problem(
                ("allowedIps", str(index)),
                f"`{text[:60]}` is not an IPv4 or IPv6 address or CIDR range (such as "
                "203.0.113.0/24 or 2001:db8::/48, with no bits set past the prefix).",
            )
    return tuple(networks), tuple(str(network) for network in networks)


def _valid_budgets(given: BudgetsInput, problem: Any) -> Budgets:
    tokens = spend = None
    if given.token_budget is not None:
        limit, period = given.token_budget
        if not 1 <= limit <= MAX_TOKEN_BUDGET:
            problem(("tokenBudget", "limit"), f"Use a whole number from 1 to {MAX_TOKEN_BUDGET:,}.")
        tokens = TokenBudget(limit, BudgetPeriod(period))
    if given.spend_budget is not None:
        amount, period = given.spend_budget
        micros = usd_micros(amount)
        if micros is None or micros <= 0 or Decimal(micros) / MICRO > MAX_SPEND_BUDGET:
            problem(
                ("spendBudgetUsd", "limit"),
                f"Give an amount in USD above 0 and at most {MAX_SPEND_BUDGET:,}, with at most "
                f'{USD_DECIMALS} decimals, such as "50.00".',
            )
            micros = 0
        spend = SpendBudget(micros, BudgetPeriod(period))
    return Budgets(tokens=tokens, spend=spend)
