"""Enforcing key policies: what a request made with a project key may do, decided before it is
forwarded, and what it used, counted when its response has ended.

Order of the checks, each refusal with its own reason (`PolicyRefusal`):

    SCOPE        the key lacks the scope (PROXY for /v1, READ for GraphQL)         403
    ADDRESS      the client address is not in the key's allow-list                   403
    MODEL        the model is not in the key's allow-list                            403
    REQUESTS_PER_MINUTE, TOKENS_PER_MINUTE, CONCURRENCY                              429, retry
    BUDGET       the key's or the project's token or spend budget is used up          429, no retry

The first three need no I/O. The rest is one admission to the counters (`counters.py`, or
`shared_counters.py` when several processes share them in Redis), asked only when the key or its
project has such limits: keys without them cost nothing here.

Budgets are not overspent by more than the requests in flight when the limit was reached (and,
with several processes, those the others admitted before they learned of it, within
`shared_counters.FLUSH_MS + FRESH_MS`): a request is admitted while the budget has room, and what
it uses is known when it ends.
"""

from __future__ import annotations

import itertools
import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import NamedTuple

from app.api_keys.policy import (
    BudgetPeriod,
    Budgets,
    KeyPolicy,
    Scope,
    period_bounds,
    period_label,
)
from app.clock import Clock
from app.policies.counters import (
    MINUTE_MS,
    Admission,
    Budget,
    Counters,
    Limit,
    Outcome,
    Seed,
    Settlement,
    Verdict,
)

log = logging.getLogger(__name__)

# A day past its period's end, a budget counter goes: a clock a little behind still finds it.
_GRACE_MS = 24 * 3600 * 1000
# Seeding a missing counter and asking again: enough for a counter that expires in between.
_SEED_ROUNDS = 4


class PolicyRefusal(StrEnum):
    SCOPE = "scope"
    ADDRESS = "address"
    MODEL = "model"
    REQUESTS_PER_MINUTE = "requests_per_minute"
    TOKENS_PER_MINUTE = "tokens_per_minute"
    CONCURRENCY = "concurrency"
    BUDGET = "budget"

    @property
    def retryable(self) -> bool:
        return self in _RETRYABLE


_RETRYABLE = frozenset(
    {
        PolicyRefusal.REQUESTS_PER_MINUTE,
        PolicyRefusal.TOKENS_PER_MINUTE,
        PolicyRefusal.CONCURRENCY,
    }
)
_BY_OUTCOME = {
    Outcome.REQUESTS_PER_MINUTE: PolicyRefusal.REQUESTS_PER_MINUTE,
    Outcome.TOKENS_PER_MINUTE: PolicyRefusal.TOKENS_PER_MINUTE,
    Outcome.CONCURRENCY: PolicyRefusal.CONCURRENCY,
    Outcome.BUDGET: PolicyRefusal.BUDGET,
}


class BudgetKind(StrEnum):
    TOKENS = "tokens"
    USD = "usd"


@dataclass(frozen=True)
class BudgetCounter:
    """One budget as counted: whose (a key or a project), of what, in which period."""

    owner: str  # "key:<id>" or "project:<uuid>"
    kind: BudgetKind
    period: BudgetPeriod
    limit: int  # tokens, or micro-USD
    label: str
    start: datetime
    end: datetime
    counter: str = field(init=False)
    # The counter's end (its period's and a day more), in milliseconds since the epoch.
    expires_ms: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "counter", f"budget:{self.owner}:{self.kind}:{self.label}")
        object.__setattr__(self, "expires_ms", int(self.end.timestamp() * 1000) + _GRACE_MS)

    def ttl_ms(self, now_ms: int) -> int:
        return self.expires_ms - now_ms


# Keys whose plans are kept; past it, they are worked out afresh.
_KEPT_PLANS = 10_000


# What a budget has used so far in a period, as recorded in the usage tables: (owner kind,
# owner id, start) -> (tokens, micro-USD). Seeds a counter that does not exist yet.
UsageSoFar = Callable[[str, str, datetime], Awaitable[tuple[int, int]]]


class RateState(NamedTuple):
    """What the rate-limit headers tell the client."""

    requests_limit: int | None
    requests_remaining: int
    tokens_limit: int | None
    tokens_remaining: int
    # When the minute's counters start again, in milliseconds since the epoch (the headers are
    # written when the response starts, which may be seconds after the admission).
    reset_at_ms: int


@dataclass(frozen=True)
class _Plan:
    """What the counters are asked for one key's requests: its limits and budgets, under one
    policy and project budgets, in one minute. Worked out once and used by every request of that
    minute (working it out costs more than asking the counters)."""

    policy: KeyPolicy
    project: Budgets
    minute: int
    valid_until_ms: int  # the minute's end, or a budget period's if sooner
    requests: Limit | None
    tokens: Limit | None
    in_flight: Limit | None
    budget_counters: tuple[BudgetCounter, ...]
    budgets: tuple[Budget, ...]  # budget_counters as the counters take them
    # For each budget: its counter, whether it counts tokens (else micro-USD), its TTL.
    settled_budgets: tuple[tuple[str, bool, int], ...]

    def holds_for(self, policy: KeyPolicy, project: Budgets, now_ms: int) -> bool:
        return (
            (self.policy is policy or self.policy == policy)
            and (self.project is project or self.project == project)
            and self.minute * MINUTE_MS <= now_ms < self.valid_until_ms
        )


class Ticket(NamedTuple):
    """An admitted request: what to report when its response has ended."""

    request_id: str
    plan: _Plan | None  # None: nothing is counted for the key
    rate: RateState | None


# The ticket of every request whose key and project have nothing to count.
_UNCOUNTED = Ticket("", None, None)


@dataclass(frozen=True)
class Refused:
    reason: PolicyRefusal
    message: str
    retry_after_s: int | None = None
    rate: RateState | None = None


def check_access(
    policy: KeyPolicy, scope: Scope, client_ip: str | None, model: str | None = None
) -> Refused | None:
    """Scope, address and model: decided from the policy alone, with no I/O."""
    if not policy.allows_scope(scope):
        what = "call models through the proxy" if scope is Scope.PROXY else "read the API"
        return Refused(PolicyRefusal.SCOPE, f"This API key may not {what} (scope {scope}).")
    if not policy.allows_ip(client_ip):
        return Refused(PolicyRefusal.ADDRESS, "This API key may not be used from this address.")
    return check_model(policy, model) if model is not None else None


def check_model(policy: KeyPolicy, model: str) -> Refused | None:
    """The model alone, once scope and address have been checked."""
    if not policy.allows_model(model):
        # Never which models are allowed: a leaked key learns nothing of the project.
        return Refused(PolicyRefusal.MODEL, "This API key may not use this model.")
    return None


class AccessRefused(Exception):
    """A key's policy refused a GraphQL request (scope READ, or the address): HTTP 403."""

    def __init__(self, refused: Refused, key_id: str, project_id: uuid.UUID) -> None:
        super().__init__(refused.reason.value)
        self.refused = refused
        self.key_id = key_id
        self.project_id = project_id


class PolicyEnforcer:
    def __init__(self, counters: Counters, clock: Clock, usage_so_far: UsageSoFar) -> None:
        self._counters = counters
        self._clock = clock
        self._usage_so_far = usage_so_far
        self._plans: dict[str, _Plan] = {}
        # Unique within the process, which is all a request's id is used for.
        self._request_ids = itertools.count()

    @property
    def counters(self) -> Counters:
        return self._counters

    def admit_at_once(
        self, key_id: str, project_id: uuid.UUID, policy: KeyPolicy, project: Budgets
    ) -> Ticket | Refused | None:
        """Decided from what this process holds, as nearly every request is; None when the
        counters must be asked first (`admit`). Synchronous: it is on every request's path."""
        if not policy.limits_anything and not project.any:
            return _UNCOUNTED
        plan, admission = self._asking(key_id, project_id, policy, project)
        verdict = self._counters.admit_at_once(admission)
        if verdict is None or verdict.outcome is Outcome.SEED:
            return None
        return _decided(plan, admission, verdict)

    async def admit(
        self, key_id: str, project_id: uuid.UUID, policy: KeyPolicy, project: Budgets
    ) -> Ticket | Refused:
        """Like `admit_at_once`, but asks the counters (which decide at once when they can) and
        seeds a budget counter they lack."""
        if not policy.limits_anything and not project.any:
            return _UNCOUNTED
        plan, admission = self._asking(key_id, project_id, policy, project)
        verdict = await self._admit_seeding(admission, plan.budget_counters)
        return _decided(plan, admission, verdict)

    def settle(
        self, ticket: Ticket, *, tokens: int, cost_micros: int | None, forwarded: bool = True
    ) -> None:
        """Report what an admitted request used, once its response has ended (or, with
        `forwarded=False`, that it never went out)."""
        plan = ticket.plan
        if plan is None:
            return
        if not forwarded:
            tokens, cost_micros = 0, 0
        cost = cost_micros or 0
        self._counters.settle(
            Settlement(
                ticket.request_id,
                plan.in_flight.counter if plan.in_flight else None,
                plan.tokens,
                tokens,
                tuple(
                    [
                        (counter, tokens if of_tokens else cost, ttl_ms)
                        for counter, of_tokens, ttl_ms in plan.settled_budgets
                    ]
                ),
            )
        )

    def _asking(
        self, key_id: str, project_id: uuid.UUID, policy: KeyPolicy, project: Budgets
    ) -> tuple[_Plan, Admission]:
        """The key's plan for now, and what one request asks of the counters under it."""
        now_ms = self._clock.now_ms()
        plan = self._plans.get(key_id)
        if plan is None or not plan.holds_for(policy, project, now_ms):
            plan = self._plan(key_id, project_id, policy, project, now_ms)
        admission = Admission(
            str(next(self._request_ids)),
            now_ms,
            plan.requests,
            plan.tokens,
            plan.in_flight,
            plan.budgets,
        )
        return plan, admission

    def _plan(
        self, key_id: str, project_id: uuid.UUID, policy: KeyPolicy, project: Budgets, now_ms: int
    ) -> _Plan:
        now = datetime.fromtimestamp(now_ms / 1000, UTC)
        minute = now_ms // MINUTE_MS
        counters = (
            *_budget_counters(f"key:{key_id}", policy.budgets, now),
            *_budget_counters(f"project:{project_id}", project, now),
        )
        ends = [int(counter.end.timestamp() * 1000) for counter in counters]
        budgets = tuple(Budget(c.counter, c.limit, c.ttl_ms(now_ms)) for c in counters)
        if len(self._plans) >= _KEPT_PLANS:
            self._plans.clear()
        plan = self._plans[key_id] = _Plan(
            policy=policy,
            project=project,
            minute=minute,
            valid_until_ms=min([(minute + 1) * MINUTE_MS, *ends]),
            requests=_limit(f"rpm:{key_id}:{minute}", policy.requests_per_minute),
            tokens=_limit(f"tpm:{key_id}:{minute}", policy.tokens_per_minute),
            in_flight=_limit(f"flight:{key_id}", policy.max_concurrent_requests),
            budget_counters=counters,
            budgets=budgets,
            settled_budgets=tuple(
                (budget.counter, counter.kind is BudgetKind.TOKENS, budget.ttl_ms)
                for budget, counter in zip(budgets, counters, strict=True)
            ),
        )
        return plan

    async def _admit_seeding(
        self, admission: Admission, budgets: tuple[BudgetCounter, ...]
    ) -> Verdict:
        for _ in range(_SEED_ROUNDS):
            verdict = await self._counters.admit(admission)
            if verdict.outcome is not Outcome.SEED:
                return verdict
            budget = budgets[verdict.budget_index]
            kind, _, owner_id = budget.owner.partition(":")
            tokens, micros = await self._usage_so_far(kind, owner_id, budget.start)
            await self._counters.seed(
                Seed(
                    budget.counter,
                    tokens if budget.kind is BudgetKind.TOKENS else micros,
                    budget.ttl_ms(admission.now_ms),
                )
            )
        log.warning("a budget counter kept disappearing; the request is refused for now")
        return Verdict(Outcome.BUDGET)


def _decided(plan: _Plan, admission: Admission, verdict: Verdict) -> Ticket | Refused:
    reset_at_ms = (admission.now_ms // MINUTE_MS + 1) * MINUTE_MS
    rate = _rate_state(plan.policy, verdict, reset_at_ms)
    if verdict.outcome is Outcome.ADMITTED:
        return Ticket(admission.request_id, plan, rate)
    reason = _BY_OUTCOME.get(verdict.outcome, PolicyRefusal.BUDGET)
    if reason is PolicyRefusal.BUDGET:
        counters = plan.budget_counters
        index = verdict.budget_index
        return Refused(
            reason,
            _budget_message(counters[index] if 0 <= index < len(counters) else None),
            rate=rate,
        )
    # A place in flight frees up when a request ends, usually within seconds; a minute's
    # counts start again when the minute does.
    retry_after = (
        1
        if reason is PolicyRefusal.CONCURRENCY
        else math.ceil((reset_at_ms - admission.now_ms) / 1000)
    )
    return Refused(reason, _rate_message(reason), retry_after, rate)


def _limit(counter: str, limit: int | None) -> Limit | None:
    return Limit(counter, limit) if limit is not None else None


def _budget_counters(owner: str, budgets: Budgets, now: datetime) -> list[BudgetCounter]:
    counters = []
    if budgets.tokens is not None:
        counters.append(
            _budget(owner, BudgetKind.TOKENS, budgets.tokens.period, budgets.tokens.limit, now)
        )
    if budgets.spend is not None:
        counters.append(
            _budget(owner, BudgetKind.USD, budgets.spend.period, budgets.spend.limit_micros, now)
        )
    return counters


def _budget(
    owner: str, kind: BudgetKind, period: BudgetPeriod, limit: int, now: datetime
) -> BudgetCounter:
    start, end = period_bounds(period, now)
    return BudgetCounter(owner, kind, period, limit, period_label(period, now), start, end)


def _rate_state(policy: KeyPolicy, verdict: Verdict, reset_at_ms: int) -> RateState | None:
    if policy.requests_per_minute is None and policy.tokens_per_minute is None:
        return None
    requests_left = (policy.requests_per_minute or 0) - verdict.requests
    tokens_left = (policy.tokens_per_minute or 0) - verdict.tokens
    return RateState(
        requests_limit=policy.requests_per_minute,
        requests_remaining=requests_left if requests_left > 0 else 0,
        tokens_limit=policy.tokens_per_minute,
        tokens_remaining=tokens_left if tokens_left > 0 else 0,
        reset_at_ms=reset_at_ms,
    )


def _rate_message(reason: PolicyRefusal) -> str:
    return {
        PolicyRefusal.REQUESTS_PER_MINUTE: "This API key made too many requests this minute.",
        PolicyRefusal.TOKENS_PER_MINUTE: "This API key used too many tokens this minute.",
        PolicyRefusal.CONCURRENCY: "This API key has too many requests in progress.",
    }[reason]


def _budget_message(budget: BudgetCounter | None) -> str:
    if budget is None:
        return "A budget of this API key or its project is used up."
    whose = "This API key's" if budget.owner.startswith("key:") else "This project's"
    what = "token" if budget.kind is BudgetKind.TOKENS else "spend"
    period = "day" if budget.period is BudgetPeriod.DAY else "month"
    return (
        f"{whose} {what} budget for this {period} is used up; it starts again at "
        f"{budget.end.isoformat().replace('+00:00', 'Z')}."
    )
