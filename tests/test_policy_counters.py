"""The counters key policies are enforced with: exact under concurrency, in memory and in Redis,
and counting on in memory while Redis is away."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest
import redis.asyncio as redis

from app.policies import shared_counters
from app.policies.counters import (
    Admission,
    Budget,
    Counters,
    Limit,
    MemoryCounters,
    Outcome,
    Seed,
    Settlement,
    Verdict,
)
from app.policies.shared_counters import (
    FLUSH_MS,
    FRESH_MS,
    IDLE_MS,
    READ_ALONG_MS,
    STALE_PLACE_MS,
    RedisCounters,
)


@pytest.fixture(params=["memory", "redis"])
async def counters(request: pytest.FixtureRequest) -> AsyncIterator[Counters]:
    if request.param == "memory":
        yield MemoryCounters()
        return
    url = request.getfixturevalue("redis_url")
    store = RedisCounters(url, key_prefix=f"test:{secrets.token_hex(4)}:")
    try:
        yield store
    finally:
        await store.close()


def _now_ms() -> int:
    return int(time.time() * 1000)


def _admission(**kwargs: object) -> Admission:
    return Admission(request_id=secrets.token_hex(4), now_ms=_now_ms(), **kwargs)  # type: ignore[arg-type]


async def test_exactly_the_limit_of_requests_get_through_at_once(counters: Counters) -> None:
    limit = Limit("rpm:key1:1", 100)

    verdicts = await asyncio.gather(
        *(counters.admit(_admission(requests=limit)) for _ in range(300))
    )

    outcomes = [verdict.outcome for verdict in verdicts]
    assert outcomes.count(Outcome.ADMITTED) == 100
    assert outcomes.count(Outcome.REQUESTS_PER_MINUTE) == 200


async def test_requests_in_flight_are_held_until_settled(counters: Counters) -> None:
    in_flight = Limit("flight:key1", 2)
    first, second = _admission(in_flight=in_flight), _admission(in_flight=in_flight)

    assert (await counters.admit(first)).outcome is Outcome.ADMITTED
    assert (await counters.admit(second)).outcome is Outcome.ADMITTED
    assert (await counters.admit(_admission(in_flight=in_flight))).outcome is Outcome.CONCURRENCY
    counters.settle(Settlement(request_id=first.request_id, in_flight=in_flight.counter))
    await asyncio.sleep(0.05)  # the settlement goes with the next batch

    assert (await counters.admit(_admission(in_flight=in_flight))).outcome is Outcome.ADMITTED


async def test_a_place_left_by_a_dead_process_expires() -> None:
    counters = MemoryCounters()
    in_flight = Limit("flight:key2", 1)
    forgotten = Admission(request_id="gone", now_ms=_now_ms() - 16 * 60 * 1000, in_flight=in_flight)
    await counters.admit(forgotten)

    assert (await counters.admit(_admission(in_flight=in_flight))).outcome is Outcome.ADMITTED


async def test_a_shared_place_holds_while_renewed_and_expires_when_not(redis_url: str) -> None:
    store = RedisCounters(redis_url, key_prefix=f"test:{secrets.token_hex(4)}:")
    in_flight = Limit("flight:key2", 1)
    try:
        async with redis.Redis.from_url(redis_url) as client:
            # Another process's place, renewed a moment ago: it counts.
            await client.zadd(store._key(in_flight.counter), {"other:0": _now_ms() - 1_000})
            refused = await store.admit(_admission(in_flight=in_flight))
            # Not renewed for longer than a live process lets pass: its process died.
            await client.zadd(
                store._key(in_flight.counter), {"other:0": _now_ms() - STALE_PLACE_MS}
            )
            admitted = await store.admit(_admission(in_flight=in_flight))
    finally:
        await store.close()

    assert refused.outcome is Outcome.CONCURRENCY
    assert admitted.outcome is Outcome.ADMITTED


async def test_tokens_are_counted_when_settled(counters: Counters) -> None:
    tokens = Limit("tpm:key1:1", 1_000)
    admitted = _admission(tokens=tokens)
    assert (await counters.admit(admitted)).outcome is Outcome.ADMITTED

    counters.settle(Settlement(request_id=admitted.request_id, tokens=tokens, token_count=1_200))
    await asyncio.sleep(0.05)

    verdict = await counters.admit(_admission(tokens=tokens))
    assert verdict.outcome is Outcome.TOKENS_PER_MINUTE
    assert verdict.tokens == 1_200


async def test_a_budget_is_seeded_then_counted_then_used_up(counters: Counters) -> None:
    budget = Budget("budget:key:k1:tokens:2026-12", limit=500, ttl_ms=60_000)

    first = await counters.admit(_admission(budgets=(budget,)))
    assert (first.outcome, first.budget_index) == (Outcome.SEED, 0)
    await counters.seed(Seed(budget.counter, 400, 60_000))
    await counters.seed(Seed(budget.counter, 0, 60_000))  # a second seeder changes nothing
    admitted = await counters.admit(_admission(budgets=(budget,)))
    assert (admitted.outcome, admitted.budget_used) == (Outcome.ADMITTED, (400,))
    counters.settle(Settlement(request_id="r", budgets=((budget.counter, 150, 60_000),)))
    await asyncio.sleep(0.05)

    refused = await counters.admit(_admission(budgets=(budget,)))
    assert (refused.outcome, refused.budget_index) == (Outcome.BUDGET, 0)


async def test_a_refused_request_counts_nowhere(counters: Counters) -> None:
    budget = Budget("budget:project:p1:usd:2026-12", limit=10, ttl_ms=60_000)
    await counters.seed(Seed(budget.counter, 10, 60_000))
    requests = Limit("rpm:key3:1", 5)
    in_flight = Limit("flight:key3", 5)

    for _ in range(3):
        verdict = await counters.admit(
            _admission(requests=requests, in_flight=in_flight, budgets=(budget,))
        )
        assert verdict.outcome is Outcome.BUDGET

    # Nothing was counted: five requests still fit in the minute and in flight.
    for _ in range(5):
        verdict = await counters.admit(_admission(requests=requests, in_flight=in_flight))
        assert verdict.outcome is Outcome.ADMITTED


async def test_while_redis_is_away_the_process_counts_alone_and_says_so() -> None:
    store = RedisCounters("redis://127.0.0.1:1/0")  # nothing listens there
    limit = Limit("rpm:key4:1", 2)
    try:
        verdicts = [await store.admit(_admission(requests=limit)) for _ in range(3)]
    finally:
        await store.close()

    assert [v.outcome for v in verdicts] == [
        Outcome.ADMITTED,
        Outcome.ADMITTED,
        Outcome.REQUESTS_PER_MINUTE,
    ]
    assert store.available is False
    assert store.errors >= 1


async def test_when_redis_answers_again_its_budgets_are_seeded_again(redis_url: str) -> None:
    store = RedisCounters(redis_url, key_prefix=f"test:{secrets.token_hex(4)}:")
    budget = Budget("budget:key:k9:tokens:2026-12", limit=1_000, ttl_ms=60_000)
    try:
        await store.seed(Seed(budget.counter, 100, 60_000))
        store._went_away(ConnectionError("test"))  # as a failed call would
        store._retry_at = 0.0
        verdict = await store.admit(_admission(budgets=(budget,)))  # Redis answers again
        await asyncio.gather(*store._tasks)

        again = await store.admit(_admission(budgets=(budget,)))
    finally:
        await store.close()

    assert verdict.outcome is Outcome.ADMITTED
    # Dropped on recovery: the next admission seeds it from the usage recorded.
    assert again.outcome is Outcome.SEED
    assert store.available is True


async def test_scripts_redis_lost_are_loaded_again_and_nothing_is_counted_twice(
    redis_url: str,
) -> None:
    import redis.asyncio as redis

    store = RedisCounters(redis_url, key_prefix=f"test:{secrets.token_hex(4)}:")
    limit = Limit("rpm:key1:1", 3)
    try:
        assert (await store.admit(_admission(requests=limit))).outcome is Outcome.ADMITTED
        # As after a restart of Redis: its script cache is empty.
        async with redis.Redis.from_url(redis_url) as client:
            await client.script_flush()
        verdicts = await asyncio.gather(
            *(store.admit(_admission(requests=limit)) for _ in range(4))
        )
    finally:
        await store.close()

    assert store.available
    assert [verdict.outcome for verdict in verdicts].count(Outcome.ADMITTED) == 2
    assert max(verdict.requests for verdict in verdicts) == 3


# --- Shared by several processes: permits ahead, levels, what goes back --------------------------


@pytest.fixture
async def two_stores(redis_url: str) -> AsyncIterator[tuple[RedisCounters, RedisCounters]]:
    """Two processes' counters on one Redis."""
    prefix = f"test:{secrets.token_hex(4)}:"
    a, b = RedisCounters(redis_url, key_prefix=prefix), RedisCounters(redis_url, key_prefix=prefix)
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def _shared_count(store: RedisCounters, counter: str) -> int:
    return int(await store._redis.get(store._key(counter)) or 0)


async def test_a_busy_process_admits_from_permits_it_took_ahead(redis_url: str) -> None:
    store = RedisCounters(redis_url, key_prefix=f"test:{secrets.token_hex(4)}:")
    limit = Limit("rpm:key5:1", 10_000)
    try:
        verdicts = [await store.admit(_admission(requests=limit)) for _ in range(200)]
        trips = store.round_trips
    finally:
        await store.close()

    assert {verdict.outcome for verdict in verdicts} == {Outcome.ADMITTED}
    assert trips <= 10  # a round trip per block of permits, not per request
    assert [verdict.requests for verdict in verdicts[:3]] == [1, 2, 3]
    # Closing gave back what was taken ahead and not used: only the 200 stay counted.
    async with redis.Redis.from_url(redis_url) as client:
        assert int(await client.get(store._key(limit.counter)) or 0) == 200


async def test_across_processes_exactly_the_limit_gets_through(
    two_stores: tuple[RedisCounters, RedisCounters],
) -> None:
    a, b = two_stores
    limit = Limit("rpm:key6:1", 100)
    # One request each first: both hold permits taken ahead when the rush comes.
    warm = [await store.admit(_admission(requests=limit)) for store in (a, b)]

    rush = await asyncio.gather(
        *(store.admit(_admission(requests=limit)) for store in [a, b] * 150),
        *(store.admit(_admission(requests=limit)) for store in [a] * 20),
    )

    outcomes = [verdict.outcome for verdict in [*warm, *rush]]
    assert outcomes.count(Outcome.ADMITTED) == 100
    assert await _shared_count(a, limit.counter) == 100


async def test_permits_a_process_does_not_use_go_back_to_the_others(
    two_stores: tuple[RedisCounters, RedisCounters],
) -> None:
    a, b = two_stores
    limit = Limit("rpm:key7:1", 100)
    assert (await a.admit(_admission(requests=limit))).outcome is Outcome.ADMITTED
    assert await _shared_count(a, limit.counter) > 1  # a took some ahead

    await asyncio.sleep(3 * IDLE_MS / 1000)  # a is idle: what it took ahead goes back
    verdicts = [await b.admit(_admission(requests=limit)) for _ in range(100)]

    assert [verdict.outcome for verdict in verdicts].count(Outcome.ADMITTED) == 99
    assert verdicts[-1].outcome is Outcome.REQUESTS_PER_MINUTE


async def test_places_in_flight_are_shared_and_come_back_when_requests_end(
    two_stores: tuple[RedisCounters, RedisCounters],
) -> None:
    a, b = two_stores
    in_flight = Limit("flight:key8", 3)
    held = [_admission(in_flight=in_flight) for _ in range(2)]
    assert [(await a.admit(x)).outcome for x in held] == [Outcome.ADMITTED] * 2
    assert (await b.admit(_admission(in_flight=in_flight))).outcome is Outcome.ADMITTED
    assert (await b.admit(_admission(in_flight=in_flight))).outcome is Outcome.CONCURRENCY

    a.settle(Settlement(request_id=held[0].request_id, in_flight=in_flight.counter))
    await asyncio.sleep(0.05)  # close to its limit, a gives the place back at once

    assert (await b.admit(_admission(in_flight=in_flight))).outcome is Outcome.ADMITTED
    assert (await a.admit(_admission(in_flight=in_flight))).outcome is Outcome.CONCURRENCY


async def test_what_one_process_counted_reaches_the_others_within_moments(
    two_stores: tuple[RedisCounters, RedisCounters],
) -> None:
    a, b = two_stores
    tokens = Limit("tpm:key9:1", 1_000)
    budget = Budget("budget:key:k10:tokens:2026-12", limit=5_000, ttl_ms=60_000)
    await a.seed(Seed(budget.counter, 0, 60_000))
    first = _admission(tokens=tokens, budgets=(budget,))
    assert (await a.admit(first)).outcome is Outcome.ADMITTED
    assert (await b.admit(_admission(tokens=tokens, budgets=(budget,)))).outcome is (
        Outcome.ADMITTED
    )

    a.settle(
        Settlement(
            request_id=first.request_id,
            tokens=tokens,
            token_count=1_000,
            budgets=((budget.counter, 5_000, 60_000),),
        )
    )
    # a knows at once; b once the settlement is sent and its own reading is renewed.
    assert (await a.admit(_admission(tokens=tokens))).outcome is Outcome.TOKENS_PER_MINUTE
    await asyncio.sleep((FLUSH_MS + FRESH_MS) / 1000 + 0.02)

    late = await b.admit(_admission(budgets=(budget,)))
    assert (late.outcome, late.budget_index) == (Outcome.BUDGET, 0)
    assert (await b.admit(_admission(tokens=tokens))).tokens == 1_000


async def test_a_lower_limit_applies_at_once_to_permits_taken_ahead(redis_url: str) -> None:
    store = RedisCounters(redis_url, key_prefix=f"test:{secrets.token_hex(4)}:")
    try:
        assert (await store.admit(_admission(requests=Limit("rpm:key11:1", 1_000)))).outcome is (
            Outcome.ADMITTED
        )
        lowered = Limit("rpm:key11:1", 3)  # the policy changed; permits were taken ahead
        verdicts = [await store.admit(_admission(requests=lowered)) for _ in range(3)]
    finally:
        await store.close()

    assert [verdict.outcome for verdict in verdicts] == [
        Outcome.ADMITTED,
        Outcome.ADMITTED,
        Outcome.REQUESTS_PER_MINUTE,
    ]


async def test_a_settlement_for_a_budget_redis_lost_is_left_to_the_seeding(
    redis_url: str,
) -> None:
    """The usage recorded holds it: counting it into a counter created from zero would make the
    seeding (which only sets a missing counter) count from too little."""
    store = RedisCounters(redis_url, key_prefix=f"test:{secrets.token_hex(4)}:")
    budget = Budget("budget:key:k12:tokens:2026-12", limit=500, ttl_ms=60_000)
    try:
        store.settle(Settlement(request_id="r", budgets=((budget.counter, 150, 60_000),)))
        await asyncio.sleep(0.05)
        verdict = await store.admit(_admission(budgets=(budget,)))
    finally:
        await store.close()

    assert verdict.outcome is Outcome.SEED


async def test_a_process_renews_the_places_it_holds(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared_counters, "RENEW_MS", 50.0)
    store = RedisCounters(redis_url, key_prefix=f"test:{secrets.token_hex(4)}:")
    in_flight = Limit("flight:key13", 1)
    places = store._key(in_flight.counter)
    try:
        assert (await store.admit(_admission(in_flight=in_flight))).outcome is Outcome.ADMITTED
        [(name, taken_at)] = await store._redis.zrange(places, 0, -1, withscores=True)
        await asyncio.sleep(0.3)  # the request is still in flight
        renewed_at = await store._redis.zscore(places, name)
    finally:
        await store.close()

    assert renewed_at is not None
    assert renewed_at > taken_at


async def test_a_lower_concurrency_limit_applies_at_once_to_places_taken_ahead(
    redis_url: str,
) -> None:
    store = RedisCounters(redis_url, key_prefix=f"test:{secrets.token_hex(4)}:")
    try:
        first = await store.admit(_admission(in_flight=Limit("flight:key14", 1_000)))
        lowered = Limit("flight:key14", 2)
        verdicts = [await store.admit(_admission(in_flight=lowered)) for _ in range(2)]
    finally:
        await store.close()

    assert first.outcome is Outcome.ADMITTED
    assert [verdict.outcome for verdict in verdicts] == [Outcome.ADMITTED, Outcome.CONCURRENCY]


async def test_a_read_sent_again_after_lost_scripts_sees_what_the_batch_added(
    redis_url: str,
) -> None:
    store = RedisCounters(redis_url, key_prefix=f"test:{secrets.token_hex(4)}:")
    budget = Budget("budget:key:k15:tokens:2026-12", limit=500, ttl_ms=60_000)
    try:
        await store.seed(Seed(budget.counter, 400, 60_000))
        assert (await store.admit(_admission(budgets=(budget,)))).outcome is Outcome.ADMITTED
        await asyncio.sleep(2 * READ_ALONG_MS / 1000)  # the next batch reads the level again
        async with redis.Redis.from_url(redis_url) as client:
            await client.script_flush()
        store.settle(Settlement(request_id="r", budgets=((budget.counter, 150, 60_000),)))
        await asyncio.sleep(2 * FLUSH_MS / 1000)  # sent with a read, both sent again

        refused = await store.admit(_admission(budgets=(budget,)))
    finally:
        await store.close()

    assert refused.outcome is Outcome.BUDGET
    assert refused.budget_index == 0


async def test_metrics_tell_round_trips_and_waits(redis_url: str) -> None:
    from app.observability import PolicyCountersCollector

    store = RedisCounters(redis_url, key_prefix=f"test:{secrets.token_hex(4)}:")
    limit = Limit("rpm:key16:1", 10_000)
    try:
        for _ in range(50):
            assert (await store.admit(_admission(requests=limit))).outcome is Outcome.ADMITTED
        metrics = {
            metric.name: metric.samples[0].value
            for metric in PolicyCountersCollector(store).collect()
        }
    finally:
        await store.close()

    assert metrics["traylinx_policy_counters_shared"] == 1
    assert metrics["traylinx_policy_counters_waits"] == 1  # the first: no permit held yet
    assert 1 <= metrics["traylinx_policy_counters_round_trips"] <= 5
    assert metrics["traylinx_policy_counters_errors"] == 0


def _record_calls(store: RedisCounters, *, delay_s: float = 0.0) -> list[list[str]]:
    """What each pipeline the store sends carries ("EVALSHA" for a script, else the command),
    each sent `delay_s` late (a slow round trip)."""
    sent: list[list[str]] = []
    pipeline = store._pipeline

    async def recorded(calls: Sequence[Any]) -> list[Any]:
        sent.append(["EVALSHA" if script is not None else args[0] for script, _, args in calls])
        await asyncio.sleep(delay_s)
        return await pipeline(calls)

    store._pipeline = recorded  # type: ignore[method-assign]
    return sent


async def test_requests_waiting_only_for_a_level_are_decided_by_one_read(redis_url: str) -> None:
    store = RedisCounters(redis_url, key_prefix=f"test:{secrets.token_hex(4)}:")
    tokens = Limit("tpm:key17:1", 1_000_000)
    budget = Budget("budget:key:k17:tokens:2026-12", limit=1_000_000, ttl_ms=60_000)
    try:
        await store.seed(Seed(budget.counter, 0, 60_000))
        first = await store.admit(_admission(tokens=tokens, budgets=(budget,)))
        await asyncio.sleep(2 * FRESH_MS / 1000)  # unused: the levels are too old to decide on
        sent = _record_calls(store)

        verdicts = await asyncio.gather(
            *(store.admit(_admission(tokens=tokens, budgets=(budget,))) for _ in range(50))
        )
    finally:
        await store.close()

    assert first.outcome is Outcome.ADMITTED
    assert {verdict.outcome for verdict in verdicts} == {Outcome.ADMITTED}
    assert store.waits == 1 + 50
    # One read of both levels for the fifty, no script of their own.
    assert sent[0] == ["MGET"]
    assert not any("EVALSHA" in calls for calls in sent)


async def test_a_level_is_as_old_as_the_read_that_brought_it(
    two_stores: tuple[RedisCounters, RedisCounters],
) -> None:
    """A read on its way does not make a level fresh: what was read is as old as the read."""
    a, b = two_stores
    budget = Budget("budget:key:k18:tokens:2026-12", limit=5_000, ttl_ms=60_000)
    await a.seed(Seed(budget.counter, 0, 60_000))
    assert (await b.admit(_admission(budgets=(budget,)))).outcome is Outcome.ADMITTED
    _record_calls(b, delay_s=2 * FRESH_MS / 1000)  # b's round trips take twice FRESH_MS
    await asyncio.sleep(0.6 * FRESH_MS / 1000)
    # Decided on the level b read before; starts a read that reaches Redis after a's settlement.
    assert (await b.admit(_admission(budgets=(budget,)))).outcome is Outcome.ADMITTED
    a.settle(Settlement(request_id="r", budgets=((budget.counter, 5_000, 60_000),)))
    # a's settlement is in Redis; what b read is older than FRESH_MS, its new read still away.
    await asyncio.sleep(0.6 * FRESH_MS / 1000)

    late = await b.admit(_admission(budgets=(budget,)))

    assert (late.outcome, late.budget_index) == (Outcome.BUDGET, 0)


async def _ten_waiting_for_a_read(
    store: RedisCounters, key: str, breaking: Callable[[RedisCounters], None]
) -> list[Verdict]:
    """Ten admissions that wait for a read of a count grown too old, `breaking` the store first;
    each must be answered within seconds."""
    tokens = Limit(f"tpm:{key}:1", 1_000_000)
    try:
        assert (await store.admit(_admission(tokens=tokens))).outcome is Outcome.ADMITTED
        await asyncio.sleep(2 * FRESH_MS / 1000)  # the level is too old to decide on
        breaking(store)
        return await asyncio.wait_for(
            asyncio.gather(*(store.admit(_admission(tokens=tokens)) for _ in range(10))), 5
        )
    finally:
        await store.close()


async def test_requests_waiting_for_a_read_when_redis_goes_away_are_answered_from_memory(
    redis_url: str,
) -> None:
    async def unreachable(calls: Sequence[Any]) -> list[Any]:
        raise ConnectionError("refused")

    def cut_off(store: RedisCounters) -> None:
        store._pipeline = unreachable  # type: ignore[method-assign]

    store = RedisCounters(redis_url, key_prefix=f"test:{secrets.token_hex(4)}:")
    verdicts = await _ten_waiting_for_a_read(store, "key19", cut_off)

    assert {verdict.outcome for verdict in verdicts} == {Outcome.ADMITTED}
    assert not store.available


async def test_an_answer_the_process_cannot_read_leaves_no_request_waiting(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    def unreadable(*_: object) -> None:
        raise ValueError("unexpected answer")

    def garble(store: RedisCounters) -> None:
        store._read = unreadable  # type: ignore[method-assign]

    store = RedisCounters(redis_url, key_prefix=f"test:{secrets.token_hex(4)}:")
    verdicts = await _ten_waiting_for_a_read(store, "key20", garble)

    assert {verdict.outcome for verdict in verdicts} == {Outcome.ADMITTED}
    assert not store.available  # counted in memory until Redis is tried again
    assert "could not be read" in caplog.text


async def test_slow_round_trips_make_a_process_read_counts_sooner(redis_url: str) -> None:
    store = RedisCounters(redis_url, key_prefix=f"test:{secrets.token_hex(4)}:")
    try:
        store._took(1.0)
        quick = store._read_again_ms
        store._took(80.0)  # a busy event loop: the read must start earlier to be back in time
        slow = store._read_again_ms
        for _ in range(200):
            store._took(1.0)  # falls back slowly as round trips are quick again
        recovered = store._read_again_ms
    finally:
        await store.close()

    assert quick == shared_counters.READ_AGAIN_MS
    assert slow == FRESH_MS - 2 * 80.0
    assert recovered == shared_counters.READ_AGAIN_MS
