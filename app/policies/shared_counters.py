"""Policy counters in Redis, shared by every server process (TRAYLINX_REDIS_URL), asked as little
as exactness allows.

Asking Redis on every request would cost each one a round trip (0.2-0.4 ms on loopback) and the
client's work. Instead each process holds what it needs to decide on its own most of the time:

- **Permits ahead** for requests per minute and places in flight: a process takes them from the
  shared counter in blocks (`lua.ADMIT`: up to an eighth of what is left, none once fewer than
  eight are left) and admits locally while it holds some, taking more in the background before
  it runs out (a block grows from LEASE up to MAX_LEASE while requests have to wait for one).
  Taken permits are counted in Redis, so no process ever admits past a limit; the last ones of
  a limit go one request at a time. A process gives back what it has not used after
  `IDLE_MS`, and at once when the limit is close, so what it holds does not keep requests of
  other processes out for long.
- **Levels** of tokens per minute and budgets: a process reads them from Redis and adds what its
  own requests used; what other processes added reaches it within `FLUSH_MS` + `FRESH_MS`
  (settlements are sent in batches at most `FLUSH_MS` later; a level is as old as the read that
  brought it, and one older than `FRESH_MS` is read again before a request is decided on it).
  A level in use is read again in the background, one read at a time, with any batch that goes
  anyway once it is `READ_ALONG_MS` old, in a batch of its own once it is `READ_AGAIN_MS` old,
  or sooner when round trips are slow (under load, a round trip takes a few turns of a busy
  event loop), so that a fresh read is usually back before the last one is too old.

A request that cannot be decided locally waits for one batch. One that only lacks a fresh level
is decided when the batch's read is back, with no call of its own; the others (no permit left, a
budget not seeded) go in the batch as one script call each. Everything that waits at the same
time, what ended meanwhile, and the refills go in one pipeline, one round trip for dozens of
requests under load; one batch is on its way at a time, so levels read are never older than what
this process sent before.

When Redis cannot be reached, the counters fall back to this process's memory (each process then
counts on its own) until Redis answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from app.policies import lua
from app.policies.counters import (
    Admission,
    Limit,
    MemoryCounters,
    Outcome,
    Seed,
    Settlement,
    Verdict,
)

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

log = logging.getLogger(__name__)

# Permits a process wishes to hold ahead, per limit, at first; doubled each time its requests
# had to wait for more (up to MAX_LEASE), halved when it gives unused ones back.
LEASE = 128
MAX_LEASE = 4096
# More permits are taken ahead once fewer than this share of a lease are free.
WANT_MORE_BELOW = 0.75
# Permits unused this long go back to the shared counter.
IDLE_MS = 100.0
# Settlements wait at most this long to go with others.
FLUSH_MS = 20.0
# A level read longer ago than this is read again before a request is decided on it.
FRESH_MS = 200.0
# A level in use is read again, one read on its way at a time: in a batch of its own once it is
# READ_AGAIN_MS old, or, when round trips are slow (under load, a few turns of a busy event
# loop), once it is FRESH_MS less twice the recent round trip old, so that the read is back
# before FRESH_MS; and with any batch that goes anyway (settlements, refills, waits) once it is
# READ_ALONG_MS old.
READ_AGAIN_MS = 100.0
READ_ALONG_MS = 10.0
# Places held are renewed this often; one not renewed for STALE_PLACE_MS belongs to a process
# that died.
RENEW_MS = 30_000.0
STALE_PLACE_MS = 180_000
# A limit with fewer than this many permits left gives back what it holds at once.
CLOSE_TO_LIMIT = 8
# Permits and levels of a key unused this long are forgotten (past minutes' among them).
FORGET_AFTER_MS = 150_000.0


def _clock_ms() -> float:
    return time.monotonic() * 1000


@dataclass(eq=False, slots=True)
class _Permits:
    """What this process holds of one shared limit: requests of a minute, or places in flight."""

    counter: str
    limit: int
    free: int = 0  # held and not taken by a request
    counted: int = 0  # the shared count when Redis last answered
    close: bool = False  # fewer than CLOSE_TO_LIMIT left then: give back what is free at once
    used_ms: float = 0.0
    refilling: bool = False
    lease: int = LEASE
    dry_in: int = -1  # the batch in which it last ran dry
    # Places only: the names this process holds in Redis, free and taken.
    names: list[str] = field(default_factory=list)

    def wants_more(self, now_ms: float, *, share: float = WANT_MORE_BELOW) -> bool:
        """Whether to take more ahead: when fewer than `share` of a lease are free (a batch
        that goes anyway tops up from higher, see `_add_refills`)."""
        return (
            self.free < self.lease * share
            and not self.close
            and not self.refilling
            and now_ms - self.used_ms < IDLE_MS
        )

    def ran_dry(self) -> None:
        """A request had to wait for a permit: hold more ahead from now on."""
        self.lease = min(MAX_LEASE, self.lease * 2)


@dataclass(eq=False, slots=True)
class _Level:
    """The shared value of a token counter or a budget, as far as this process knows."""

    counter: str
    value: int = 0  # as last read, plus what this process's requests added since
    read_ms: float = float("-inf")  # when the batch that read `value` was sent
    reading: bool = False  # a batch on its way reads it again
    missing: bool = False  # a budget counter Redis does not have: to be seeded
    used_ms: float = 0.0


@dataclass(slots=True)
class _Add:
    """What requests added to a counter since the last batch."""

    amount: int
    ttl_ms: int
    create: bool  # False: only if the counter exists (a budget: see `lua.ADD`)


@dataclass
class _Waiting:
    admission: Admission
    answer: asyncio.Future[Verdict]
    # Taken locally when the batch was made, given back if Redis refuses.
    took_request: _Permits | None = None
    took_place: _Permits | None = None


# A command for the pipeline: a script with its keys and arguments, or (script None) a plain
# command as `args`.
_Call = tuple["AsyncScript | None", list[str], list[Any]]


@dataclass
class _Batch:
    made_ms: float
    calls: list[_Call] = field(default_factory=list)
    answers: list[Callable[[Any], None]] = field(default_factory=list)
    waiting: list[_Waiting] = field(default_factory=list)
    # Admissions that only wait for levels this batch reads: decided here once it is back.
    rereading: list[_Waiting] = field(default_factory=list)
    reads: list[_Level] = field(default_factory=list)
    adds: dict[str, _Add] = field(default_factory=dict)

    def add(self, call: _Call, answer: Callable[[Any], None] | None = None) -> None:
        self.calls.append(call)
        self.answers.append(answer or _ignore)


def _ignore(_: Any) -> None:
    return None


class RedisCounters:
    """The counters in Redis (see the module's docstring); this process's memory while Redis is
    away."""

    def __init__(self, url: str, *, key_prefix: str = "traylinx:") -> None:
        import redis.asyncio as redis

        self._redis = redis.Redis.from_url(
            url, socket_connect_timeout=1.0, socket_timeout=2.0, health_check_interval=30
        )
        self._prefix = key_prefix
        self._admit_script = self._redis.register_script(lua.ADMIT)
        self._add_script = self._redis.register_script(lua.ADD)
        self._give_back_script = self._redis.register_script(lua.GIVE_BACK)
        self._fallback = MemoryCounters()
        # This process's places in Redis are named <holder>:<n>.
        self._holder = secrets.token_hex(6)
        self._place_numbers = 0
        self._permits: dict[str, _Permits] = {}
        self._levels: dict[str, _Level] = {}
        self._places: dict[str, _Permits] = {}  # request id -> where its place was taken
        self._waiting: list[_Waiting] = []
        self._adds: dict[str, _Add] = {}
        self._give_back: dict[str, int] = {}  # requests counter -> permits
        self._free_places: dict[str, list[str]] = {}  # in-flight counter -> names
        self._renewed_ms = _clock_ms()
        self._round_trip_ms = 0.0  # lately: rises at once, falls slowly
        self._read_again_ms = READ_AGAIN_MS
        self._syncing = False
        self._batches = 0
        self._flush_timer: asyncio.TimerHandle | None = None
        self._flush_asked = False
        self._tick_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        # While Redis is unreachable: when to try it again (monotonic seconds).
        self._retry_at = 0.0
        self.available = True
        self.errors = 0
        self.round_trips = 0
        self.waits = 0  # admissions that waited for Redis

    # --- the Counters protocol ---------------------------------------------------------------

    def admit_at_once(self, admission: Admission) -> Verdict | None:
        """From the permits and levels this process holds (or its memory while Redis is away);
        None when Redis must be asked."""
        if self.available or self._redis_due():
            return self._admit_here(admission, time.monotonic() * 1000)
        return self._fallback.admit_now(admission, _wall_ms())

    async def admit(self, admission: Admission) -> Verdict:
        verdict = self.admit_at_once(admission)
        if verdict is not None:
            return verdict
        self.waits += 1
        answer: asyncio.Future[Verdict] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(admission, answer))
        self._sync_soon()
        return await answer

    def settle(self, settlement: Settlement) -> None:
        """Never waits: what the request used goes with a batch within FLUSH_MS."""
        if not self.available:
            self._fallback.settle(settlement)
            return
        if settlement.in_flight is not None:
            self._free_place(settlement.request_id)
        if settlement.tokens is not None and settlement.token_count:
            self._count(settlement.tokens.counter, settlement.token_count, 120_000, create=True)
        for counter, amount, ttl_ms in settlement.budgets:
            if amount:
                self._count(counter, amount, ttl_ms, create=False)
        if self._flush_timer is None:
            self._sync_later()

    async def seed(self, seed: Seed) -> None:
        if not self._redis_due():
            await self._fallback.seed(seed)
            return
        try:
            await self._redis.set(self._key(seed.counter), seed.value, px=seed.ttl_ms, nx=True)
        except Exception as error:
            self._went_away(error)
            await self._fallback.seed(seed)
            return
        self._levels.pop(seed.counter, None)  # read again with the next admission

    async def close(self) -> None:
        """Sends what is still to be sent and gives back what this process holds."""
        self._closing = True
        for timer in (self._flush_timer, self._tick_timer):
            if timer is not None:
                timer.cancel()
        # A batch under way may bring permits: what this process holds is known once it is back.
        await self._finish_batches()
        if self.available:
            for permits in list(self._permits.values()):
                self._give_back_all(permits)
            if self._has_work():
                self._sync_soon()
            await self._finish_batches()
        await self._redis.aclose()

    async def _finish_batches(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- deciding here ------------------------------------------------------------------------

    def _admit_here(
        self, admission: Admission, now_ms: float, *, read_as_of_ms: float | None = None
    ) -> Verdict | None:
        """The verdict from what this process holds and knows, or None to ask Redis. Refuses in
        the script's order, so a request gets the same answer either way. On every request's
        path: kept lean (few calls)."""
        requests = place = None
        if admission.requests is not None:
            requests = self._permits.get(admission.requests.counter)
            if requests is None or requests.free <= 0 or requests.limit != admission.requests.limit:
                self._not_ready(requests, admission.requests)
                return None
        if admission.in_flight is not None:
            place = self._permits.get(admission.in_flight.counter)
            if place is None or place.free <= 0 or place.limit != admission.in_flight.limit:
                self._not_ready(place, admission.in_flight)
                return None
        token_count = 0
        if admission.tokens is not None:
            token_count = self._fresh_value(admission.tokens.counter, now_ms, read_as_of_ms)
            if token_count < 0:
                return None
        used = [
            self._fresh_value(budget.counter, now_ms, read_as_of_ms) for budget in admission.budgets
        ]
        if used and min(used) < 0:
            return None
        if admission.tokens is not None and token_count >= admission.tokens.limit:
            return Verdict(Outcome.TOKENS_PER_MINUTE, _counted(requests), token_count)
        for index, budget in enumerate(admission.budgets):
            if used[index] >= budget.limit:
                return Verdict(Outcome.BUDGET, _counted(requests), token_count, budget_index=index)
        counted = 0
        if requests is not None:
            requests.free -= 1
            requests.used_ms = now_ms
            counted = requests.counted - requests.free
            if requests.free < requests.lease * WANT_MORE_BELOW:
                self._want_more(requests, now_ms)
        if place is not None:
            place.free -= 1
            place.used_ms = now_ms
            self._places[admission.request_id] = place
            if place.free < place.lease * WANT_MORE_BELOW:
                self._want_more(place, now_ms)
        return Verdict(Outcome.ADMITTED, counted, token_count, tuple(used))

    def _not_ready(self, permits: _Permits | None, limit: Limit) -> None:
        """No permit to take here: none held, all taken, or held under a limit since changed
        (those go back)."""
        if permits is not None and permits.limit != limit.limit:
            permits.limit = limit.limit
            self._give_back_free(permits)

    def _ready_permits(self, limit: Limit) -> _Permits | None:
        """The permits held for `limit`, if one is free to take now."""
        permits = self._permits.get(limit.counter)
        if permits is None or (permits.free > 0 and permits.limit == limit.limit):
            return permits
        self._not_ready(permits, limit)
        return None

    def _fresh_value(self, counter: str, now_ms: float, as_of_ms: float | None = None) -> int:
        """The level of `counter`, if read lately enough (by `as_of_ms`, default now) to decide
        on; -1 if not (or if it is a budget counter Redis does not have)."""
        level = self._levels.get(counter)
        if level is None:
            return -1
        level.used_ms = now_ms
        age = (now_ms if as_of_ms is None else as_of_ms) - level.read_ms
        if age < self._read_again_ms:
            return -1 if level.missing else level.value
        if not level.reading:
            self._sync_soon()  # read again in the background, before it is too old
        return level.value if age < FRESH_MS and not level.missing else -1

    def _want_more(self, permits: _Permits, now_ms: float) -> None:
        if permits.wants_more(now_ms):
            self._sync_soon()

    def _free_place(self, request_id: str) -> None:
        place = self._places.pop(request_id, None)
        if place is None or self._permits.get(place.counter) is not place:
            return
        place.free += 1
        if place.close:
            self._give_back_free(place)
            self._sync_soon()

    def _count(self, counter: str, amount: int, ttl_ms: int, *, create: bool) -> None:
        level = self._levels.get(counter)
        if level is not None:
            level.value += amount
        pending = self._adds.get(counter)
        if pending is None:
            self._adds[counter] = _Add(amount, ttl_ms, create)
        else:
            pending.amount += amount
            pending.ttl_ms = ttl_ms

    def _give_back_free(self, permits: _Permits) -> None:
        """Free permits go back to Redis with the next batch (requests) or their names do
        (places)."""
        if permits.free <= 0:
            return
        if permits.names:
            names = [permits.names.pop() for _ in range(permits.free)]
            self._free_places.setdefault(permits.counter, []).extend(names)
        else:
            self._give_back[permits.counter] = self._give_back.get(permits.counter, 0) + (
                permits.free
            )
        permits.counted -= permits.free
        permits.free = 0

    def _give_back_all(self, permits: _Permits) -> None:
        """The process stops: its places go too, taken or not (nothing it serves is left)."""
        permits.free = len(permits.names) if permits.names else permits.free
        self._give_back_free(permits)

    # --- batches ------------------------------------------------------------------------------

    def _sync_soon(self) -> None:
        if self._syncing or (not self.available and not self._redis_due()):
            return
        self._syncing = True
        task = asyncio.get_running_loop().create_task(self._sync(), name="policy-counters")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _sync_later(self) -> None:
        if self._syncing or self._flush_timer is not None or self._closing:
            return
        self._flush_timer = asyncio.get_running_loop().call_later(FLUSH_MS / 1000, self._flush_due)

    def _flush_due(self) -> None:
        self._flush_timer = None
        self._flush_asked = True
        self._sync_soon()

    async def _sync(self) -> None:
        try:
            while self._redis_due() and self._has_work():
                self._flush_asked = False
                await self._send(self._next_batch())
        finally:
            self._syncing = False
            if self._adds:
                self._sync_later()
            self._tick_soon()

    def _has_work(self) -> bool:
        now_ms = _clock_ms()
        # Settlements alone wait for the flush timer (or go with other work): sending them as
        # they come would cost a round trip per request.
        return bool(
            self._waiting
            or (self._adds and (self._flush_asked or self._closing))
            or self._give_back
            or self._free_places
            or (
                not self._closing
                and any(permits.wants_more(now_ms) for permits in self._permits.values())
            )
            or any(
                self._due_for_reading(level, now_ms, self._read_again_ms)
                for level in self._levels.values()
            )
            or self._renewal_due(now_ms)
        )

    def _renewal_due(self, now_ms: float) -> bool:
        return now_ms - self._renewed_ms >= RENEW_MS and any(
            permits.names for permits in self._permits.values()
        )

    def _next_batch(self) -> _Batch:
        """Settlements and permits given back first, then the admissions waiting, then refills
        and reads: an admission is never refused for a refill made in the same batch."""
        now_ms = _clock_ms()
        self._batches += 1
        batch = _Batch(now_ms)
        self._add_settlements(batch)
        self._add_given_back(batch)
        self._add_admissions(batch, now_ms)
        self._add_refills(batch, now_ms)
        self._add_reads(batch, now_ms)
        if self._renewal_due(now_ms):
            self._add_renewals(batch, now_ms)
        return batch

    def _add_settlements(self, batch: _Batch) -> None:
        if not self._adds:
            return
        batch.adds, self._adds = self._adds, {}
        adds = list(batch.adds.values())
        batch.add(
            (
                self._add_script,
                [self._key(counter) for counter in batch.adds],
                [add.amount for add in adds]
                + [add.ttl_ms for add in adds]
                + [1 if add.create else 0 for add in adds],
            )
        )

    def _add_given_back(self, batch: _Batch) -> None:
        if self._give_back:
            given, self._give_back = self._give_back, {}
            batch.add((self._give_back_script, [self._key(c) for c in given], list(given.values())))
        for counter, names in self._free_places.items():
            batch.add((None, [], ["ZREM", self._key(counter), *names]))
        self._free_places = {}

    def _add_admissions(self, batch: _Batch, now_ms: float) -> None:
        waiting, self._waiting = self._waiting, []
        undecided = []
        for entry in waiting:
            if entry.answer.done():
                continue  # its request is gone: nothing to take for it
            # Permits may have come with the batch before: decide here if possible.
            verdict = self._admit_here(entry.admission, now_ms)
            if verdict is not None:
                _answer(entry, verdict)
            elif self._waits_for_levels_only(entry.admission, now_ms):
                # The batch reads them (`_add_reads`): no script call of its own.
                batch.rereading.append(entry)
            else:
                undecided.append(entry)
        # Permits are wished for ahead only by a request alone in wanting them: many at once
        # take exactly what they need, so that none is refused while another holds a spare.
        wanting: dict[str, int] = {}
        for entry in undecided:
            for limit in (entry.admission.requests, entry.admission.in_flight):
                if limit is not None:
                    wanting[limit.counter] = wanting.get(limit.counter, 0) + 1
        for entry in undecided:
            self._add_admission(batch, entry, wanting, now_ms)

    def _waits_for_levels_only(self, admission: Admission, now_ms: float) -> bool:
        """Whether `admission` has its permits here and lacks only levels read lately enough
        (tokens, budgets); unknown levels are then made known, to be read with the batch."""
        for limit in (admission.requests, admission.in_flight):
            if limit is not None and self._ready_permits(limit) is None:
                return False
        counters = [budget.counter for budget in admission.budgets]
        if admission.tokens is not None:
            counters.append(admission.tokens.counter)
        for counter in counters:
            level = self._levels.get(counter)
            if level is None:
                self._levels[counter] = _Level(counter, used_ms=now_ms)
            elif level.missing or level.reading:
                return False  # a budget to seed, or a read that never came back: the script
            else:
                level.used_ms = now_ms  # in use: read with the batch
        return True

    def _add_admission(
        self, batch: _Batch, entry: _Waiting, wanting: dict[str, int], now_ms: float
    ) -> None:
        admission = entry.admission
        requests = self._permits_for(admission.requests)
        place = self._permits_for(admission.in_flight)
        # A permit held here is taken now, and given back if Redis refuses the request.
        entry.took_request = self._take_held(requests, now_ms)
        entry.took_place = self._take_held(place, now_ms)
        requests_needed = int(requests is not None and entry.took_request is None)
        places_needed = int(place is not None and entry.took_place is None)
        first_place = self._place_numbers
        places_wished = self._wish(place, places_needed, wanting)
        if place is not None:
            self._place_numbers += places_needed + places_wished
        call = self._admit_call(
            admission,
            check=True,
            requests_needed=requests_needed,
            requests_wished=self._wish(requests, requests_needed, wanting),
            places_needed=places_needed,
            places_wished=places_wished,
            first_place=first_place,
        )
        batch.waiting.append(entry)
        batch.add(
            call,
            lambda result: self._admitted(
                entry,
                result,
                now_ms,
                (requests, requests_needed),
                (place, places_needed, first_place),
            ),
        )

    def _permits_for(self, limit: Limit | None) -> _Permits | None:
        if limit is None:
            return None
        permits = self._permits.get(limit.counter)
        if permits is None:
            permits = self._permits[limit.counter] = _Permits(limit.counter, limit.limit)
        return permits

    def _take_held(self, permits: _Permits | None, now_ms: float) -> _Permits | None:
        """`permits` if one of them was free and is now taken; None if Redis must grant one."""
        if permits is None:
            return None
        if permits.free > 0:
            permits.free -= 1
            permits.used_ms = now_ms
            return permits
        if permits.counted and permits.dry_in != self._batches:  # not its first request
            permits.dry_in = self._batches
            permits.ran_dry()
        return None

    @staticmethod
    def _wish(permits: _Permits | None, needed: int, wanting: dict[str, int]) -> int:
        if permits is None or not needed or permits.close or wanting[permits.counter] > 1:
            return 0
        return permits.lease

    def _add_refills(self, batch: _Batch, now_ms: float) -> None:
        if self._closing:
            return
        for permits in self._permits.values():
            if not permits.wants_more(now_ms, share=0.9):
                continue
            permits.refilling = True
            is_place = permits.counter.startswith("flight:")
            first_place = self._place_numbers
            if is_place:
                self._place_numbers += permits.lease
            limit = Limit(permits.counter, permits.limit)
            admission = Admission(
                request_id="",
                now_ms=_wall_ms(),
                in_flight=limit if is_place else None,
                requests=None if is_place else limit,
            )
            call = self._admit_call(
                admission,
                check=False,
                requests_needed=0,
                requests_wished=0 if is_place else permits.lease,
                places_needed=0,
                places_wished=permits.lease if is_place else 0,
                first_place=first_place,
            )
            refilled = functools.partial(
                self._refilled, permits, asked=limit, first_place=first_place
            )
            batch.add(call, refilled)

    def _add_reads(self, batch: _Batch, now_ms: float) -> None:
        levels = [
            level
            for level in self._levels.values()
            if self._due_for_reading(level, now_ms, READ_ALONG_MS)
        ]
        if not levels:
            return
        for level in levels:
            level.reading = True  # not read again before this read answers
        batch.reads = levels
        batch.add(
            (None, [], ["MGET", *(self._key(level.counter) for level in levels)]),
            lambda values: self._read(levels, values, now_ms),
        )

    def _add_renewals(self, batch: _Batch, now_ms: float) -> None:
        self._renewed_ms = now_ms
        score = _wall_ms()
        for permits in self._permits.values():
            if permits.names:
                pairs = [item for name in permits.names for item in (score, name)]
                batch.add((None, [], ["ZADD", self._key(permits.counter), "XX", *pairs]))

    @staticmethod
    def _due_for_reading(level: _Level, now_ms: float, older_than: float) -> bool:
        """Whether a level in use is to be read again (none is read twice at once)."""
        return (
            not level.reading
            and now_ms - level.read_ms >= older_than
            and now_ms - level.used_ms < FRESH_MS
        )

    def _admit_call(
        self,
        admission: Admission,
        *,
        check: bool,
        requests_needed: int,
        requests_wished: int,
        places_needed: int,
        places_wished: int,
        first_place: int,
    ) -> _Call:
        keys = [
            self._key(admission.requests.counter) if admission.requests else "",
            self._key(admission.tokens.counter) if admission.tokens else "",
            self._key(admission.in_flight.counter) if admission.in_flight else "",
            *(self._key(budget.counter) for budget in admission.budgets),
        ]
        # Places are dated by this machine's clock, whatever the service's clock says: they are
        # renewed by it.
        now_wall_ms = _wall_ms()
        args: list[Any] = [
            1 if check else 0,
            admission.requests.limit if admission.requests else 0,
            requests_needed,
            requests_wished,
            admission.tokens.limit if admission.tokens else 0,
            admission.in_flight.limit if admission.in_flight else 0,
            places_needed,
            places_wished,
            f"{self._holder}:",
            first_place,
            now_wall_ms,
            now_wall_ms - STALE_PLACE_MS,
            *(budget.limit for budget in admission.budgets),
        ]
        return (self._admit_script, keys, args)

    # --- answers ------------------------------------------------------------------------------

    def _admitted(
        self,
        entry: _Waiting,
        result: Sequence[Any],
        sent_ms: float,
        asked_requests: tuple[_Permits | None, int],
        asked_places: tuple[_Permits | None, int, int],
    ) -> None:
        answer = _Answer.of(result)
        admission = entry.admission
        requests, requests_needed = asked_requests
        place, places_needed, first_place = asked_places
        now_ms = _clock_ms()
        if requests is not None:
            self._granted(requests, answer.requests_granted, answer.requests, first_place=None)
        if place is not None:
            self._granted(place, answer.places_granted, answer.places, first_place=first_place)
        if admission.tokens is not None:
            self._learn(admission.tokens.counter, answer.tokens, sent_ms)
        for budget, used in zip(admission.budgets, answer.used, strict=True):
            self._learn(budget.counter, used, sent_ms)
        if answer.outcome is Outcome.ADMITTED:
            # What was needed is taken; what came ahead stays free.
            for permits, needed in ((requests, requests_needed), (place, places_needed)):
                if permits is not None:
                    permits.free -= needed
                    permits.used_ms = now_ms
            if place is not None:
                self._places[admission.request_id] = place
                if entry.answer.done():  # its request is gone: nothing will settle the place
                    self._free_place(admission.request_id)
        else:
            for permits in (entry.took_request, entry.took_place):
                if permits is not None:
                    permits.free += 1
        self._keep_within(requests, admission.requests)
        self._keep_within(place, admission.in_flight)
        verdict = Verdict(
            outcome=answer.outcome,
            requests=_counted(requests) if requests is not None else answer.requests,
            tokens=answer.tokens,
            budget_used=tuple(used for used in answer.used if used >= 0),
            budget_index=answer.budget_index,
        )
        _answer(entry, verdict)

    def _refilled(
        self, permits: _Permits, result: Sequence[Any], *, asked: Limit, first_place: int
    ) -> None:
        permits.refilling = False
        if permits.free == 0:
            permits.ran_dry()  # requests waited for this refill: ask sooner, for more
        answer = _Answer.of(result)
        if permits.counter.startswith("flight:"):
            self._granted(permits, answer.places_granted, answer.places, first_place)
        else:
            self._granted(permits, answer.requests_granted, answer.requests, None)
        self._keep_within(permits, asked)

    def _keep_within(self, permits: _Permits | None, asked: Limit | None) -> None:
        """Permits granted under a limit the policy has changed since go back."""
        if permits is not None and asked is not None and permits.limit != asked.limit:
            self._give_back_free(permits)

    def _granted(
        self, permits: _Permits, granted: int, counted: int, first_place: int | None
    ) -> None:
        permits.free += granted
        permits.counted = counted
        permits.close = permits.limit - counted < CLOSE_TO_LIMIT
        if first_place is not None:
            permits.names.extend(f"{self._holder}:{first_place + i}" for i in range(granted))

    def _learn(self, counter: str, value: int, read_ms: float) -> None:
        level = self._levels.get(counter)
        if level is None:
            level = self._levels[counter] = _Level(counter, used_ms=read_ms)
        self._set_level(level, value, read_ms)

    def _read(self, levels: Sequence[_Level], values: Sequence[Any], read_ms: float) -> None:
        for level, value in zip(levels, values, strict=True):
            if value is None and level.counter.startswith("budget:"):
                self._set_level(level, -1, read_ms)
            else:
                self._set_level(level, int(value or 0), read_ms)

    def _set_level(self, level: _Level, value: int, read_ms: float) -> None:
        """`value` as Redis had it, plus what this process added and has not sent yet."""
        level.missing = value < 0
        pending = self._adds.get(level.counter)
        level.value = max(value, 0) + (pending.amount if pending is not None else 0)
        level.read_ms = read_ms
        level.reading = False

    def _tick_soon(self) -> None:
        """While permits or levels are held, look again within IDLE_MS: what is idle goes back,
        what is forgotten goes, places are renewed."""
        holding = self._permits or self._levels
        if self._tick_timer is not None or self._closing or not holding:
            return
        self._tick_timer = asyncio.get_running_loop().call_later(IDLE_MS / 1000, self._tick)

    def _tick(self) -> None:
        self._tick_timer = None
        now_ms = _clock_ms()
        for permits in list(self._permits.values()):
            if now_ms - permits.used_ms >= IDLE_MS and permits.free:
                self._give_back_free(permits)
                permits.lease = max(LEASE, permits.lease // 2)
            if now_ms - permits.used_ms >= FORGET_AFTER_MS and len(permits.names) == 0:
                del self._permits[permits.counter]
        for level in list(self._levels.values()):
            if now_ms - level.used_ms >= FORGET_AFTER_MS:
                del self._levels[level.counter]
        if self._has_work():
            self._sync_soon()
        else:
            self._tick_soon()

    # --- Redis --------------------------------------------------------------------------------

    async def _send(self, batch: _Batch) -> None:
        if batch.calls:
            try:
                results = await self._evaluate(batch.calls)
            except Exception as error:
                self._went_away(error)
                self._fall_back(batch)
                return
            if not self.available:
                self._came_back()
            try:
                for answer, result in zip(batch.answers, results, strict=True):
                    answer(result)
            except Exception as error:
                # An answer this process cannot read: as if Redis had gone away (it counts on
                # in memory, and tries Redis again in a second), rather than leave requests
                # waiting for answers that will not come.
                log.exception("an answer from Redis could not be read")
                self._went_away(error)
                self._fall_back(batch)
                return
            self._took(_clock_ms() - batch.made_ms)
        now_ms = _clock_ms()
        for entry in batch.rereading:
            if entry.answer.done():
                continue  # its request is gone
            # The levels this batch read are as fresh as any read after the request came,
            # however long the round trip took: they are judged as of the batch.
            verdict = self._admit_here(entry.admission, now_ms, read_as_of_ms=batch.made_ms)
            if verdict is not None:
                _answer(entry, verdict)
            else:
                self._waiting.append(entry)  # its permits went meanwhile: the next batch

    def _took(self, round_trip_ms: float) -> None:
        """A batch's round trip took this long: when to read levels again from now on."""
        if round_trip_ms >= self._round_trip_ms:
            self._round_trip_ms = round_trip_ms
        else:
            self._round_trip_ms += (round_trip_ms - self._round_trip_ms) / 16
        self._read_again_ms = min(
            READ_AGAIN_MS, max(READ_ALONG_MS, FRESH_MS - 2 * self._round_trip_ms)
        )

    async def _evaluate(self, calls: Sequence[_Call]) -> list[Any]:
        """One round trip: each call, in order. redis-py's own script calls ask `SCRIPT EXISTS`
        before every pipeline, a second round trip per batch; here a script Redis lacks (after a
        restart or `SCRIPT FLUSH`) is loaded when it says so, and only the calls it refused are
        sent again (a refused call did nothing), with the plain commands after the first of them:
        a read must see what the calls before it in the batch wrote (plain commands are reads
        or idempotent)."""
        from redis.exceptions import NoScriptError

        self.round_trips += 1
        results = await self._pipeline(calls)
        refused = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
        if refused:
            for script in {calls[i][0] for i in refused}:
                if script is not None:
                    await self._redis.script_load(script.script)
            again = [
                i for i in range(refused[0], len(calls)) if i in refused or calls[i][0] is None
            ]
            for index, result in zip(
                again, await self._pipeline([calls[i] for i in again]), strict=True
            ):
                results[index] = result
        failed = next((result for result in results if isinstance(result, Exception)), None)
        if failed is not None:
            raise failed
        return results

    async def _pipeline(self, calls: Sequence[_Call]) -> list[Any]:
        pipeline = self._redis.pipeline(transaction=False)
        for script, keys, args in calls:
            if script is None:
                pipeline.execute_command(*args)
            else:
                pipeline.evalsha(script.sha, len(keys), *keys, *args)
        results: list[Any] = await pipeline.execute(raise_on_error=False)
        return results

    def _fall_back(self, batch: _Batch) -> None:
        """Redis did not answer: what the batch carried is counted in memory instead."""
        for counter, add in batch.adds.items():
            self._fallback.settle(
                Settlement(request_id="", budgets=((counter, add.amount, add.ttl_ms),))
            )
        pending = [*batch.waiting, *batch.rereading, *self._waiting]
        self._waiting = []
        for entry in pending:
            if not entry.answer.done():  # a request that is gone takes nothing
                entry.answer.set_result(self._fallback.admit_now(entry.admission, _wall_ms()))

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
        for counter in [c for c in self._levels if c.startswith("budget:")]:
            del self._levels[counter]

    def _went_away(self, error: BaseException) -> None:
        """What this process held or knew of Redis is dropped: it counts alone from now on."""
        self.errors += 1
        if self.available:
            log.warning(
                "Redis is unreachable (%s): policy counters are kept in this process until it "
                "answers again",
                type(error).__name__,
            )
        self.available = False
        self._retry_at = time.monotonic() + 1.0
        self._permits.clear()
        self._levels.clear()
        self._places.clear()
        self._adds.clear()
        self._give_back.clear()
        self._free_places.clear()


class _Answer(NamedTuple):
    outcome: Outcome
    budget_index: int
    requests_granted: int
    requests: int
    tokens: int
    places_granted: int
    places: int
    used: tuple[int, ...]

    @classmethod
    def of(cls, result: Sequence[Any]) -> _Answer:
        outcome = result[0].decode() if isinstance(result[0], bytes) else str(result[0])
        index, requests_granted, requests, tokens, places_granted, places, *used = (
            int(value) for value in result[1:]
        )
        return cls(
            Outcome(outcome),
            index,
            requests_granted,
            requests,
            tokens,
            places_granted,
            places,
            tuple(used),
        )


def _answer(entry: _Waiting, verdict: Verdict) -> None:
    if not entry.answer.done():  # the request may have been cancelled (its client left)
        entry.answer.set_result(verdict)


def _counted(permits: _Permits | None) -> int:
    """This minute's requests as far as this process knows: those counted when Redis last
    answered, less the permits it holds and has not used."""
    return permits.counted - permits.free if permits is not None else 0


def _wall_ms() -> int:
    return int(time.time() * 1000)
