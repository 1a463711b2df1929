"""The counters key policies are enforced with: exact under concurrency, in memory and in Redis,
and counting on in memory while Redis is away."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator

import pytest

from app.policies.counters import (
    Admission,
    Budget,
    Counters,
    Limit,
    MemoryCounters,
    Outcome,
    RedisCounters,
    Seed,
    Settlement,
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


async def test_a_place_left_by_a_dead_process_expires(counters: Counters) -> None:
    in_flight = Limit("flight:key2", 1)
    forgotten = Admission(request_id="gone", now_ms=_now_ms() - 16 * 60 * 1000, in_flight=in_flight)
    await counters.admit(forgotten)

    assert (await counters.admit(_admission(in_flight=in_flight))).outcome is Outcome.ADMITTED


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
