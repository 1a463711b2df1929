"""Key policies hold across server processes: two real servers on one PostgreSQL database and
one Redis, the fake provider behind both."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fake_provider import INPUT_TOKENS, OUTPUT_TOKENS, FakeProvider
from tests.graphql_client import GraphQLClient
from tests.helpers import add_llm_key, create_project, sign_up
from tests.processes import clear_of_the_periods_end, server_process
from tests.test_policies import CREATE_WITH_POLICY, ROTATE, UPDATE_POLICY

pytestmark = pytest.mark.slow
MESSAGES = [{"role": "user", "content": "Hi"}]
TOKENS_PER_CALL = INPUT_TOKENS + OUTPUT_TOKENS


@dataclass
class TwoServers:
    a: httpx.AsyncClient
    b: httpx.AsyncClient
    owner_token: str
    project_id: str

    async def key(self, **policy: Any) -> dict[str, Any]:
        data = await GraphQLClient(self.a).execute(
            CREATE_WITH_POLICY,
            {"input": {"projectId": self.project_id, "note": "svc", "policy": policy or None}},
            self.owner_token,
        )
        payload = data["createApiKey"]
        assert payload["userErrors"] == []
        return {**payload["apiKey"], "secret": payload["secret"]}

    async def chat(self, server: httpx.AsyncClient, key: dict[str, Any]) -> int:
        response = await server.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o", "messages": MESSAGES},
            headers={"Authorization": f"Bearer {key['secret']}"},
        )
        return response.status_code


@pytest.fixture
async def two_servers(
    database_url: str, redis_url: str, fake_provider: FakeProvider, tmp_path: Path
) -> AsyncIterator[TwoServers]:
    if not database_url.startswith("postgres"):
        pytest.skip("several servers share a PostgreSQL database")
    env = {
        "TRAYLINX_REDIS_URL": redis_url,
        "TRAYLINX_OPENAI_BASE_URL": f"{fake_provider.base_url}/v1",
        "TRAYLINX_ANTHROPIC_BASE_URL": fake_provider.base_url,
        "TRAYLINX_USAGE_FLUSH_SECONDS": "0.2",
        "TRAYLINX_UPSTREAM_MAX_CONNECTIONS": "400",
    }
    async with contextlib.AsyncExitStack() as stack:
        a = await stack.enter_async_context(server_process(database_url, tmp_path / "a", env))
        b = await stack.enter_async_context(server_process(database_url, tmp_path / "b", env))
        a.timeout = b.timeout = httpx.Timeout(30)
        gql = GraphQLClient(a)
        owner = await sign_up(gql)
        project = await create_project(gql, owner)
        await add_llm_key(gql, owner, project["id"], "OPENAI")
        yield TwoServers(a, b, owner.access_token, project["id"])


async def test_a_key_limited_to_100_a_minute_gets_exactly_100_of_300_across_both(
    two_servers: TwoServers,
) -> None:
    key = await two_servers.key(requestsPerMinute=100)
    servers = [two_servers.a, two_servers.b] * 150
    await clear_of_the_periods_end(60, margin_s=10)

    statuses = await asyncio.gather(*(two_servers.chat(server, key) for server in servers))

    assert (statuses.count(200), statuses.count(429)) == (100, 200), sorted(set(statuses))


async def test_a_token_budget_is_overspent_by_no_more_than_the_requests_in_flight(
    two_servers: TwoServers,
) -> None:
    budget = TOKENS_PER_CALL * 10
    key = await two_servers.key(tokenBudget={"limit": budget, "period": "DAY"})
    wave = [two_servers.a, two_servers.b] * 2  # four requests in flight at a time
    served = 0

    for _ in range(8):
        statuses = await asyncio.gather(*(two_servers.chat(server, key) for server in wave))
        served += statuses.count(200)
        # What one server charged reaches the other: settlements go to Redis within 20 ms,
        # and a count older than 200 ms is read again before a request is decided on it.
        await asyncio.sleep(0.5)

    assert budget <= served * TOKENS_PER_CALL <= budget + len(wave) * TOKENS_PER_CALL
    assert {await two_servers.chat(server, key) for server in wave} == {429}


async def test_a_policy_change_and_a_rotations_end_apply_on_both_at_once(
    two_servers: TwoServers,
) -> None:
    gql = GraphQLClient(two_servers.a)
    key = await two_servers.key()
    assert {await two_servers.chat(s, key) for s in (two_servers.a, two_servers.b)} == {200}

    await gql.execute(
        UPDATE_POLICY,
        {"input": {"id": key["id"], "policy": {"scopes": ["READ"]}}},
        two_servers.owner_token,
    )
    assert {await two_servers.chat(s, key) for s in (two_servers.a, two_servers.b)} == {403}

    old = await two_servers.key()
    await gql.execute(
        ROTATE, {"input": {"id": old["id"], "gracePeriodSeconds": 3}}, two_servers.owner_token
    )
    assert {await two_servers.chat(s, old) for s in (two_servers.a, two_servers.b)} == {200}
    await asyncio.sleep(3.2)
    assert {await two_servers.chat(s, old) for s in (two_servers.a, two_servers.b)} == {401}
