"""The counters key policies are enforced with: requests and tokens per minute, requests in
flight, and budgets per calendar period. In Redis when several processes share them
(TRAYLINX_REDIS_URL), in this process's memory otherwise.

Every request asks once before it is forwarded (`admit`) and reports once when its response has
ended (`settle`). An admission checks everything first and changes a counter only when every
check passed, in one atomic script: with any number of processes, a key limited to 100 requests a
minute gets exactly 100 through.

    admit   refused when: the minute's requests would pass the limit, the minute's tokens have
            reached theirs, the requests in flight are at theirs, or a budget is used up;
            otherwise counts the request and holds its place in flight
    settle  adds the tokens (and the spend) to the minute and to the budgets, frees the place

A budget counter that does not exist yet (a new period, a restarted Redis, this process's first
request) is seeded from the usage the database has recorded (`Seed`), then the admission is asked
again. Places in flight left by a process that died expire after `STALE_AFTER_MS`.

Redis is asked in batches: admissions and settlements made while a batch is on its way go
together in the next one, one round trip for dozens of requests under load. When Redis cannot be
reached, the counters fall back to this process's memory (each process then counts on its own)
until Redis answers again; `MemoryCounters` is also the store of a single process without Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

log = logging.getLogger(__name__)

# A place in flight older than this belongs to a request its process never finished (it died):
# longer than any proxied request may take (the upstream read timeout is 300 s between bytes).
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


@dataclass(frozen=True)
class Admission:
    """What one request asks before it is forwarded."""

    request_id: str
    now_ms: int
    requests: Limit | None = None
    tokens: Limit | None = None
    in_flight: Limit | None = None
    budgets: tuple[Budget, ...] = ()


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    # The minute's requests counted, its tokens used, and each budget's use, as of the decision.
    requests: int = 0
    tokens: int = 0
    budget_used: tuple[int, ...] = ()
    # For SEED / BUDGET: which budget (an index into `Admission.budgets`).
    budget_index: int = -1


@dataclass(frozen=True)
class Settlement:
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


# --- Redis ----------------------------------------------------------------------------------------

# KEYS: requests, tokens, in-flight, budget 1..n (empty string: not limited)
# ARGV: request limit, token limit, in-flight limit, request id, now ms, stale before ms,
#       budget limits 1..n
# Answers {outcome, requests, tokens, budget index, used 1..n}.
_ADMIT = """
local requests, tokens = 0, 0
if KEYS[1] ~= '' then requests = tonumber(redis.call('GET', KEYS[1]) or '0') end
if KEYS[2] ~= '' then tokens = tonumber(redis.call('GET', KEYS[2]) or '0') end
if KEYS[1] ~= '' and requests + 1 > tonumber(ARGV[1]) then
  return {'requests_per_minute', requests, tokens, -1}
end
if KEYS[2] ~= '' and tokens >= tonumber(ARGV[2]) then
  return {'tokens_per_minute', requests, tokens, -1}
end
if KEYS[3] ~= '' then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[6])
  if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[3]) then
    return {'concurrency', requests, tokens, -1}
  end
end
local used = {}
for i = 4, #KEYS do
  local value = redis.call('GET', KEYS[i])
  if not value then return {'seed', requests, tokens, i - 4} end
  if tonumber(value) >= tonumber(ARGV[i + 3]) then
    return {'budget', requests, tokens, i - 4}
  end
  used[#used + 1] = tonumber(value)
end
if KEYS[1] ~= '' then
  requests = redis.call('INCR', KEYS[1])
  redis.call('PEXPIRE', KEYS[1], 120000)
end
if KEYS[3] ~= '' then
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[4])
  redis.call('PEXPIRE', KEYS[3], 900000)
end
local answer = {'admitted', requests, tokens, -1}
for i = 1, #used do answer[#answer + 1] = used[i] end
return answer
"""

# KEYS: in-flight, tokens (empty: none), budget 1..n
# ARGV: request id, token count, amount 1..n, ttl ms 1..n
_SETTLE = """
if KEYS[1] ~= '' then redis.call('ZREM', KEYS[1], ARGV[1]) end
if KEYS[2] ~= '' and tonumber(ARGV[2]) > 0 then
  redis.call('INCRBY', KEYS[2], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], 120000)
end
local n = #KEYS - 2
for i = 1, n do
  if tonumber(ARGV[2 + i]) > 0 then
    redis.call('INCRBY', KEYS[2 + i], ARGV[2 + i])
    redis.call('PEXPIRE', KEYS[2 + i], ARGV[2 + n + i])
  end
end
return 1
"""


class RedisCounters:
    """The counters in Redis, asked in batches; this process's memory while Redis is away."""

    def __init__(self, url: str, *, key_prefix: str = "traylinx:", max_batches: int = 2) -> None:
        import redis.asyncio as redis

        self._redis = redis.Redis.from_url(
            url, socket_connect_timeout=1.0, socket_timeout=2.0, health_check_interval=30
        )
        self._prefix = key_prefix
        self._admit_script = self._redis.register_script(_ADMIT)
        self._settle_script = self._redis.register_script(_SETTLE)
        self._fallback = MemoryCounters()
        self._max_batches = max_batches
        self._batches = 0
        self._waiting: list[tuple[Admission, asyncio.Future[Verdict]]] = []
        self._settlements: list[Settlement] = []
        self._tasks: set[asyncio.Task[None]] = set()
        # While Redis is unreachable: when to try it again (monotonic seconds).
        self._retry_at = 0.0
        self.available = True
        self.errors = 0

    async def admit(self, admission: Admission) -> Verdict:
        if not self._redis_due():
            return self._fallback.admit_now(admission, _now_ms())
        answer: asyncio.Future[Verdict] = asyncio.get_running_loop().create_future()
        self._waiting.append((admission, answer))
        self._send_soon()
        return await answer

    def settle(self, settlement: Settlement) -> None:
        if not self._redis_due():
            self._fallback.settle(settlement)
            return
        self._settlements.append(settlement)
        self._send_soon()

    async def seed(self, seed: Seed) -> None:
        if not self._redis_due():
            await self._fallback.seed(seed)
            return
        try:
            await self._redis.set(self._key(seed.counter), seed.value, px=seed.ttl_ms, nx=True)
        except Exception as error:
            self._went_away(error)
            await self._fallback.seed(seed)

    async def close(self) -> None:
        # What is still queued goes out first: settlements must not be lost on shutdown.
        if self._waiting or self._settlements:
            self._send_soon()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._redis.aclose()

    def _send_soon(self) -> None:
        if self._batches >= self._max_batches:
            return  # the batch under way sends what queued meanwhile when it ends
        self._batches += 1
        task = asyncio.create_task(self._send(), name="policy-counters")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self) -> None:
        try:
            while self._waiting or self._settlements:
                waiting, self._waiting = self._waiting, []
                settlements, self._settlements = self._settlements, []
                await self._send_batch(waiting, settlements)
        finally:
            self._batches -= 1

    async def _send_batch(
        self,
        waiting: Sequence[tuple[Admission, asyncio.Future[Verdict]]],
        settlements: Sequence[Settlement],
    ) -> None:
        calls = [(self._settle_script, *self._settle_call(s)) for s in settlements]
        calls += [(self._admit_script, *self._admit_call(admission)) for admission, _ in waiting]
        try:
            results = await self._evaluate(calls)
        except Exception as error:
            self._went_away(error)
            for settlement in settlements:
                self._fallback.settle(settlement)
            for admission, answer in waiting:
                if not answer.done():
                    answer.set_result(self._fallback.admit_now(admission, _now_ms()))
            return
        if not self.available:
            self._came_back()
        for (_, answer), result in zip(waiting, results[len(settlements) :], strict=True):
            if not answer.done():
                answer.set_result(_verdict(result))

    async def _evaluate(
        self, calls: Sequence[tuple[AsyncScript, list[str], list[Any]]]
    ) -> list[Any]:
        """One round trip: EVALSHA of each call, in order. redis-py's own script calls ask
        `SCRIPT EXISTS` before every pipeline, a second round trip per batch; here a script
        Redis lacks (after a restart or `SCRIPT FLUSH`) is loaded when it says so, and only the
        calls it refused are sent again (a refused call did nothing)."""
        from redis.exceptions import NoScriptError

        results = await self._pipeline(calls)
        refused = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
        if refused:
            for script in {calls[i][0] for i in refused}:
                await self._redis.script_load(script.script)
            again = await self._pipeline([calls[i] for i in refused])
            for index, result in zip(refused, again, strict=True):
                results[index] = result
        failed = next((result for result in results if isinstance(result, Exception)), None)
        if failed is not None:
            raise failed
        return results

    async def _pipeline(
        self, calls: Sequence[tuple[AsyncScript, list[str], list[Any]]]
    ) -> list[Any]:
        pipeline = self._redis.pipeline(transaction=False)
        for script, keys, args in calls:
            pipeline.evalsha(script.sha, len(keys), *keys, *args)
        results: list[Any] = await pipeline.execute(raise_on_error=False)
        return results

    def _admit_call(self, admission: Admission) -> tuple[list[str], list[Any]]:
        keys = [
            self._key(admission.requests.counter) if admission.requests else "",
            self._key(admission.tokens.counter) if admission.tokens else "",
            self._key(admission.in_flight.counter) if admission.in_flight else "",
            *(self._key(budget.counter) for budget in admission.budgets),
        ]
        args: list[Any] = [
            admission.requests.limit if admission.requests else 0,
            admission.tokens.limit if admission.tokens else 0,
            admission.in_flight.limit if admission.in_flight else 0,
            admission.request_id,
            admission.now_ms,
            admission.now_ms - STALE_AFTER_MS,
            *(budget.limit for budget in admission.budgets),
        ]
        return keys, args

    def _settle_call(self, settlement: Settlement) -> tuple[list[str], list[Any]]:
        keys = [
            self._key(settlement.in_flight) if settlement.in_flight else "",
            self._key(settlement.tokens.counter) if settlement.tokens else "",
            *(self._key(counter) for counter, _, _ in settlement.budgets),
        ]
        args: list[Any] = [
            settlement.request_id,
            settlement.token_count,
            *(amount for _, amount, _ in settlement.budgets),
            *(ttl for _, _, ttl in settlement.budgets),
        ]
        return keys, args

    def _key(self, counter: str) -> str:
        return self._prefix + counter

    def _redis_due(self) -> bool:
        return self.available or time.monotonic() >= self._retry_at

    def _came_back(self) -> None:
        """Redis answers again. Its budget counters missed what this process counted meanwhile:
        they are dropped, to be seeded again from the usage recorded (a few seconds behind), and
        the counts kept in memory go (they would be stale at the next outage)."""
        self.available = True
        self._fallback = MemoryCounters()
        log.warning("Redis answers again: policy counters are shared again")
        task = asyncio.create_task(self._forget_budgets(), name="policy-counters-reseed")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _forget_budgets(self) -> None:
        with contextlib.suppress(Exception):
            async for key in self._redis.scan_iter(match=self._key("budget:*"), count=500):
                await self._redis.unlink(key)

    def _went_away(self, error: BaseException) -> None:
        self.errors += 1
        if self.available:
            log.warning(
                "Redis is unreachable (%s): policy counters are kept in this process until it "
                "answers again",
                type(error).__name__,
            )
        self.available = False
        self._retry_at = time.monotonic() + 1.0


def _verdict(result: Sequence[Any]) -> Verdict:
    outcome = result[0].decode() if isinstance(result[0], bytes) else str(result[0])
    return Verdict(
        outcome=Outcome(outcome),
        requests=int(result[1]),
        tokens=int(result[2]),
        budget_index=int(result[3]),
        budget_used=tuple(int(value) for value in result[4:]),
    )


async def ping(counters: Counters) -> bool:
    """Whether the shared store answers (always true for memory)."""
    if isinstance(counters, RedisCounters):
        with contextlib.suppress(Exception):
            return bool(await counters._redis.ping())
        return False
    return True
