"""The counters key policies are enforced with: requests and tokens per minute, requests in
flight, and budgets per calendar period. In this process's memory here (`MemoryCounters`); in
Redis, shared by every process, in `shared_counters.py` (TRAYLINX_REDIS_URL).

Every request asks once before it is forwarded (`admit`) and reports once when its response has
ended (`settle`). An admission checks everything first and changes a counter only when every
check passed:

    admit   refused when: the minute's requests would pass the limit, the minute's tokens have
            reached theirs, the requests in flight are at theirs, or a budget is used up;
            otherwise counts the request and holds its place in flight
    settle  adds the tokens (and the spend) to the minute and to the budgets, frees the place

A budget counter that does not exist yet (a new period, a restarted Redis, this process's first
request) is seeded from the usage the database has recorded (`Seed`), then the admission is asked
again. Places in flight left by a process that died expire after `STALE_AFTER_MS`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple, Protocol

# A place in flight older than this belongs to a request its process never finished (it died):
# longer than any proxied request may take (the upstream read timeout is 300 s between bytes).
# Shared places are renewed by the process holding them, so there it only has to outlast that.
STALE_AFTER_MS = 15 * 60 * 1000
MINUTE_MS = 60_000


class Outcome(StrEnum):
    ADMITTED = "admitted"
    REQUESTS_PER_MINUTE = "requests_per_minute"
    TOKENS_PER_MINUTE = "tokens_per_minute"
    CONCURRENCY = "concurrency"
    BUDGET = "budget"
    # A budget counter is missing: seed it, then ask again.
    SEED = "seed"


@dataclass(frozen=True)
class Limit:
    """One counter and its limit."""

    counter: str
    limit: int


@dataclass(frozen=True)
class Budget:
    """One budget counter, its limit, and how long the counter lives (to its period's end and a
    day more, so that a clock a little behind still finds it)."""

    counter: str
    limit: int
    ttl_ms: int


# The records every request makes are named tuples: a frozen dataclass takes several times as
# long to build, and these are built a few times per proxied request.


class Admission(NamedTuple):
    """What one request asks before it is forwarded."""

    request_id: str
    now_ms: int
    requests: Limit | None = None
    tokens: Limit | None = None
    in_flight: Limit | None = None
    budgets: tuple[Budget, ...] = ()


class Verdict(NamedTuple):
    outcome: Outcome
    # The minute's requests counted, its tokens used, and each budget's use, as of the decision.
    requests: int = 0
    tokens: int = 0
    budget_used: tuple[int, ...] = ()
    # For SEED / BUDGET: which budget (an index into `Admission.budgets`).
    budget_index: int = -1


class Settlement(NamedTuple):
    """What one request reports when its response has ended (or when it was not forwarded)."""

    request_id: str
    in_flight: str | None = None
    tokens: Limit | None = None  # the minute's token counter; `limit` is ignored
    token_count: int = 0
    # (counter, amount, ttl_ms) for each budget: tokens, or micro-USD.
    budgets: tuple[tuple[str, int, int], ...] = ()


@dataclass(frozen=True)
class Seed:
    counter: str
    value: int
    ttl_ms: int


class Counters(Protocol):
    async def admit(self, admission: Admission) -> Verdict: ...

    def admit_at_once(self, admission: Admission) -> Verdict | None:
        """The verdict if it can be given without waiting for anything; None: ask `admit`."""
        ...

    def settle(self, settlement: Settlement) -> None:
        """Never waits: the settlement goes with the next batch."""
        ...

    async def seed(self, seed: Seed) -> None:
        """Set a counter that does not exist yet (one that does keeps its value)."""
        ...

    async def close(self) -> None: ...


# --- in memory ------------------------------------------------------------------------------------


@dataclass
class _Count:
    value: int
    expires_ms: int


@dataclass
class MemoryCounters:
    """The counters of one process: exact within it; other processes count on their own."""

    _counts: dict[str, _Count] = field(default_factory=dict)
    _in_flight: dict[str, dict[str, int]] = field(default_factory=dict)

    async def admit(self, admission: Admission) -> Verdict:
        return self.admit_now(admission, _now_ms())

    def admit_at_once(self, admission: Admission) -> Verdict | None:
        return self.admit_now(admission, _now_ms())

    def admit_now(self, admission: Admission, clock_ms: int) -> Verdict:
        now = admission.now_ms
        self._forget_expired(clock_ms)
        requests = self._value(admission.requests)
        tokens = self._value(admission.tokens)
        if admission.requests is not None and requests + 1 > admission.requests.limit:
            return Verdict(Outcome.REQUESTS_PER_MINUTE, requests, tokens)
        if admission.tokens is not None and tokens >= admission.tokens.limit:
            return Verdict(Outcome.TOKENS_PER_MINUTE, requests, tokens)
        if admission.in_flight is not None:
            places = self._in_flight.setdefault(admission.in_flight.counter, {})
            for request_id, started in list(places.items()):
                if started < now - STALE_AFTER_MS:
                    del places[request_id]
            if len(places) >= admission.in_flight.limit:
                return Verdict(Outcome.CONCURRENCY, requests, tokens)
        used = []
        for index, budget in enumerate(admission.budgets):
            count = self._counts.get(budget.counter)
            if count is None:
                return Verdict(Outcome.SEED, requests, tokens, budget_index=index)
            if count.value >= budget.limit:
                return Verdict(Outcome.BUDGET, requests, tokens, budget_index=index)
            used.append(count.value)
        if admission.requests is not None:
            requests = self._add(admission.requests.counter, 1, clock_ms + 2 * MINUTE_MS)
        if admission.in_flight is not None:
            self._in_flight[admission.in_flight.counter][admission.request_id] = now
        return Verdict(Outcome.ADMITTED, requests, tokens, tuple(used))

    def settle(self, settlement: Settlement) -> None:
        now = _now_ms()
        if settlement.in_flight is not None:
            self._in_flight.get(settlement.in_flight, {}).pop(settlement.request_id, None)
        if settlement.tokens is not None and settlement.token_count:
            self._add(settlement.tokens.counter, settlement.token_count, now + 2 * MINUTE_MS)
        for counter, amount, ttl_ms in settlement.budgets:
            if amount:
                self._add(counter, amount, now + ttl_ms)

    async def seed(self, seed: Seed) -> None:
        if seed.counter not in self._counts:
            self._counts[seed.counter] = _Count(seed.value, _now_ms() + seed.ttl_ms)

    async def close(self) -> None:
        return None

    def _value(self, limit: Limit | None) -> int:
        if limit is None:
            return 0
        count = self._counts.get(limit.counter)
        return count.value if count else 0

    def _add(self, counter: str, amount: int, expires_ms: int) -> int:
        count = self._counts.get(counter)
        if count is None:
            count = self._counts[counter] = _Count(0, expires_ms)
        count.value += amount
        count.expires_ms = max(count.expires_ms, expires_ms)
        return count.value

    def _forget_expired(self, now_ms: int) -> None:
        # Amortised: a sweep every few thousand admissions keeps memory bounded.
        if len(self._counts) < 10_000:
            return
        for counter in [c for c, count in self._counts.items() if count.expires_ms < now_ms]:
            del self._counts[counter]


def _now_ms() -> int:
    return int(time.time() * 1000)
