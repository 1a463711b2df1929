"""Key policies: set and read over GraphQL, enforced at the proxy (and on GraphQL), with their
counters in this process or in Redis."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Coroutine
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network
from typing import Any

import anthropic
import httpx
import openai
import pytest

from app.api_keys.policy import KeyPolicy
from app.clock import FrozenClock
from app.llm_keys.catalog import Provider
from app.policies.counters import MemoryCounters
from app.policies.enforcer import RateState
from app.proxy.dialects import rate_limit_headers
from app.usage.tables import UsageEvent
from tests.conftest import Proxy, ProxyFactory
from tests.fake_provider import INPUT_TOKENS, OUTPUT_TOKENS, FakeProvider
from tests.graphql_client import GraphQLClient, Session
from tests.helpers import (
    DELETE_KEY,
    add_llm_key,
    add_member,
    create_project,
    sign_up,
)

MESSAGES = [{"role": "user", "content": "Hi"}]
TOKENS_PER_CALL = INPUT_TOKENS + OUTPUT_TOKENS

CREATE_WITH_POLICY = """
mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) {
    secret
    apiKey { id note policy { scopes allowedModels allowedIps requestsPerMinute
      tokensPerMinute maxConcurrentRequests tokenBudget { limit period }
      spendBudgetUsd { limit period } } }
    userErrors { field message code }
  }
}
"""
UPDATE_POLICY = """
mutation($input: UpdateApiKeyPolicyInput!) {
  updateApiKeyPolicy(input: $input) {
    apiKey { id policy { scopes allowedModels allowedIps requestsPerMinute tokenBudget { limit } } }
    userErrors { field message code }
  }
}
"""
ROTATE = """
mutation($input: RotateApiKeyInput!) {
  rotateApiKey(input: $input) {
    secret
    apiKey { id note expiresAt policy { requestsPerMinute } }
    previousApiKey { id expiresAt replacedBy }
    userErrors { field message code }
  }
}
"""
UPDATE_BUDGET = """
mutation($input: UpdateProjectBudgetInput!) {
  updateProjectBudget(input: $input) {
    budget { tokenBudget { limit period } spendBudgetUsd { limit period } }
    userErrors { field message code }
  }
}
"""
BUDGET_USAGE = """
query($id: ID!, $key: ID!) {
  project(id: $id) {
    budgetUsage { tokens { limit used period resetsAt } spendUsd { limit used unpricedTokens } }
    apiKey(id: $key) {
      budgetUsage { tokens { limit used period resetsAt } spendUsd { limit used unpricedTokens } }
    }
  }
}
"""


class Team:
    """A project with an OpenAI and an Anthropic provider key, and its owner."""

    def __init__(self, proxy: Proxy, owner: Session, project_id: str) -> None:
        self.proxy = proxy
        self.owner = owner
        self.project_id = project_id

    @property
    def gql(self) -> GraphQLClient:
        return self.proxy.gql

    async def key(self, **policy: Any) -> dict[str, Any]:
        """A new project key with this policy: {id, secret, ...}."""
        data = await self.gql.execute(
            CREATE_WITH_POLICY,
            {"input": {"projectId": self.project_id, "note": "svc", "policy": policy or None}},
            self.owner.access_token,
        )
        payload = data["createApiKey"]
        assert payload["userErrors"] == [], payload["userErrors"]
        return {**payload["apiKey"], "secret": payload["secret"]}

    async def set_policy(self, key: dict[str, Any], **policy: Any) -> dict[str, Any]:
        data = await self.gql.execute(
            UPDATE_POLICY, {"input": {"id": key["id"], "policy": policy}}, self.owner.access_token
        )
        payload: dict[str, Any] = data["updateApiKeyPolicy"]
        return payload

    async def chat(
        self, key: dict[str, Any], model: str = "gpt-4o", **extra: Any
    ) -> httpx.Response:
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.post(
                f"{self.proxy.url}/v1/chat/completions",
                json={"model": model, "messages": MESSAGES, **extra},
                headers={"Authorization": f"Bearer {key['secret']}"},
            )

    def openai(self, key: dict[str, Any], retries: int = 0) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=f"{self.proxy.url}/v1", api_key=key["secret"], max_retries=retries
        )

    def anthropic(self, key: dict[str, Any], retries: int = 0) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(
            base_url=self.proxy.url, api_key=key["secret"], max_retries=retries
        )

    async def flush(self) -> None:
        await self.proxy.services.usage_recorder.flush()


async def _held_by_the_provider(
    fake_provider: FakeProvider, request: Coroutine[Any, Any, httpx.Response]
) -> asyncio.Task[httpx.Response]:
    """Starts `request` and returns once the provider holds it (so it holds its place in flight):
    a fixed pause was not always enough on a busy machine, and the fake signals nothing."""
    sent = len(fake_provider.received)
    task = asyncio.create_task(request)
    async with asyncio.timeout(10):
        while len(fake_provider.received) == sent:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    return task


async def _team(proxy: Proxy) -> Team:
    owner = await sign_up(proxy.gql)
    project = await create_project(proxy.gql, owner)
    await add_llm_key(proxy.gql, owner, project["id"], "OPENAI", customModels=["ft:acme-1"])
    await add_llm_key(
        proxy.gql, owner, project["id"], "ANTHROPIC", secret_key="sk-ant-0123456789abc"
    )
    return Team(proxy, owner, project["id"])


@pytest.fixture
async def team(
    request: pytest.FixtureRequest, make_proxy: ProxyFactory, engine_name: str
) -> AsyncIterator[Team]:
    """The service with its counters in this process (with SQLite), or in Redis (with
    PostgreSQL, as several servers would share them)."""
    redis_url = request.getfixturevalue("redis_url") if engine_name == "postgres" else None
    async with make_proxy(redis_url=redis_url) as proxy:
        yield await _team(proxy)


@pytest.fixture
async def solo(proxy: Proxy) -> Team:
    """Counters in this process: for what does not depend on where they are kept."""
    return await _team(proxy)


# --- Setting and reading a policy ---------------------------------------------------------------


async def test_a_new_key_has_both_scopes_and_no_limits(solo: Team) -> None:
    key = await solo.key()

    assert key["policy"] == {
        "scopes": ["PROXY", "READ"],
        "allowedModels": None,
        "allowedIps": None,
        "requestsPerMinute": None,
        "tokensPerMinute": None,
        "maxConcurrentRequests": None,
        "tokenBudget": None,
        "spendBudgetUsd": None,
    }


async def test_a_policy_is_kept_as_given_and_replaced_whole(solo: Team) -> None:
    key = await solo.key(
        scopes=["PROXY"],
        allowedModels=["gpt-4o", "ft:acme-1"],
        allowedIps=["203.0.113.0/24", "2001:db8::/48"],
        requestsPerMinute=60,
        tokensPerMinute=10_000,
        maxConcurrentRequests=4,
        tokenBudget={"limit": 1_000_000, "period": "MONTH"},
        spendBudgetUsd={"limit": "50.00", "period": "DAY"},
    )
    assert key["policy"]["allowedIps"] == ["203.0.113.0/24", "2001:db8::/48"]
    assert key["policy"]["spendBudgetUsd"] == {"limit": "50.00", "period": "DAY"}

    payload = await solo.set_policy(key, requestsPerMinute=5)

    assert payload["userErrors"] == []
    assert payload["apiKey"]["policy"] == {
        "scopes": ["PROXY", "READ"],
        "allowedModels": None,
        "allowedIps": None,
        "requestsPerMinute": 5,
        "tokenBudget": None,
    }


async def test_policy_changes_are_audited(solo: Team, clock: FrozenClock) -> None:
    key = await solo.key()
    clock.advance(timedelta(seconds=1))
    await solo.set_policy(key, requestsPerMinute=5, allowedModels=["gpt-4o"])

    data = await solo.gql.execute(
        "query($id: ID!) { project(id: $id) { auditEvents { edges { node { action targetId "
        "details } } } } }",
        {"id": solo.project_id},
        solo.owner.access_token,
    )

    event = data["project"]["auditEvents"]["edges"][0]["node"]
    assert (event["action"], event["targetId"]) == ("api_key.update_policy", key["id"])
    assert event["details"]["policy"] == {
        "scopes": ["PROXY", "READ"],
        "models": ["gpt-4o"],
        "rpm": 5,
    }


@pytest.mark.parametrize(
    ("policy", "fields"),
    [
        ({"allowedIps": ["10.0.0.0/33"]}, [["policy", "allowedIps", "0"]]),
        ({"allowedIps": ["10.0.0.1/8"]}, [["policy", "allowedIps", "0"]]),  # bits past the prefix
        ({"allowedIps": ["not an address", "::1"]}, [["policy", "allowedIps", "0"]]),
        ({"allowedIps": [f"10.0.0.{i}" for i in range(101)]}, [["policy", "allowedIps"]]),
        ({"allowedIps": []}, [["policy", "allowedIps"]]),
        ({"allowedModels": ["gpt-4o", "gpt-4"]}, [["policy", "allowedModels", "1"]]),
        ({"allowedModels": ["x"] * 101}, [["policy", "allowedModels"]]),
        ({"scopes": []}, [["policy", "scopes"]]),
        ({"requestsPerMinute": 0}, [["policy", "requestsPerMinute"]]),
        ({"tokensPerMinute": -5}, [["policy", "tokensPerMinute"]]),
        ({"maxConcurrentRequests": 10_001}, [["policy", "maxConcurrentRequests"]]),
        ({"tokenBudget": {"limit": 0, "period": "DAY"}}, [["policy", "tokenBudget", "limit"]]),
        (
            {"spendBudgetUsd": {"limit": "-1", "period": "DAY"}},
            [["policy", "spendBudgetUsd", "limit"]],
        ),
        (
            {"spendBudgetUsd": {"limit": "1.0000001", "period": "DAY"}},
            [["policy", "spendBudgetUsd", "limit"]],
        ),
        (
            {"spendBudgetUsd": {"limit": "lots", "period": "MONTH"}},
            [["policy", "spendBudgetUsd", "limit"]],
        ),
        (
            {"requestsPerMinute": 0, "allowedIps": ["x"], "allowedModels": ["nope"]},
            [
                ["policy", "allowedIps", "0"],
                ["policy", "allowedModels", "0"],
                ["policy", "requestsPerMinute"],
            ],
        ),
    ],
)
async def test_a_bad_policy_names_each_field_and_changes_nothing(
    solo: Team, policy: dict[str, Any], fields: list[list[str]]
) -> None:
    key = await solo.key(requestsPerMinute=7)

    payload = await solo.set_policy(key, **policy)
    created = await solo.gql.execute(
        CREATE_WITH_POLICY,
        {"input": {"projectId": solo.project_id, "note": "x", "policy": policy}},
        solo.owner.access_token,
    )

    assert sorted(error["field"] for error in payload["userErrors"]) == sorted(fields)
    assert {error["code"] for error in payload["userErrors"]} == {"INVALID"}
    assert created["createApiKey"]["apiKey"] is None
    assert created["createApiKey"]["userErrors"]
    unchanged = await solo.set_policy(key, requestsPerMinute=7)
    assert unchanged["apiKey"]["policy"]["requestsPerMinute"] == 7


async def test_an_unknown_model_is_named_in_its_error(solo: Team) -> None:
    key = await solo.key()

    payload = await solo.set_policy(key, allowedModels=["gpt-4o", "gpt-99-imaginary"])

    assert "`gpt-99-imaginary`" in payload["userErrors"][0]["message"]


async def test_a_budget_needs_a_period(solo: Team) -> None:
    key = await solo.key()

    errors = await solo.gql.errors(
        UPDATE_POLICY,
        {"input": {"id": key["id"], "policy": {"tokenBudget": {"limit": 10}}}},
        solo.owner.access_token,
    )

    assert "period" in errors[0]["message"]


async def test_a_policy_of_a_deleted_key_is_not_found(solo: Team) -> None:
    key = await solo.key()
    await solo.gql.execute(DELETE_KEY, {"input": {"id": key["id"]}}, solo.owner.access_token)

    payload = await solo.set_policy(key, requestsPerMinute=1)

    assert payload["userErrors"][0]["code"] == "NOT_FOUND"


async def test_neither_a_key_nor_a_member_changes_policies(solo: Team) -> None:
    key = await solo.key()
    member = await sign_up(solo.gql)
    await add_member(solo.gql, solo.owner, solo.project_id, member.email, "MEMBER")

    by_key = await solo.gql.execute(
        UPDATE_POLICY, {"input": {"id": key["id"], "policy": {}}}, key["secret"]
    )
    by_member = await solo.gql.execute(
        UPDATE_POLICY, {"input": {"id": key["id"], "policy": {}}}, member.access_token
    )
    budget = await solo.gql.execute(
        UPDATE_BUDGET,
        {"input": {"projectId": solo.project_id, "tokenBudget": {"limit": 1, "period": "DAY"}}},
        key["secret"],
    )

    assert by_key["updateApiKeyPolicy"]["userErrors"][0]["code"] == "FORBIDDEN"
    assert by_member["updateApiKeyPolicy"]["userErrors"][0]["code"] == "FORBIDDEN"
    assert budget["updateProjectBudget"]["userErrors"][0]["code"] == "FORBIDDEN"


# --- Enforcement: scopes, addresses, models ------------------------------------------------------


async def test_a_key_without_the_proxy_scope_is_refused_403(solo: Team) -> None:
    key = await solo.key(scopes=["READ"])

    response = await solo.chat(key)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


async def test_a_key_without_the_read_scope_cannot_read_the_api(solo: Team) -> None:
    key = await solo.key(scopes=["PROXY"])

    response = await solo.gql.post("{ viewer { __typename } }", token=key["secret"])
    proxied = await solo.chat(key)

    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert proxied.status_code == 200


@pytest.mark.parametrize(
    ("allowed", "passes"),
    [(["127.0.0.1"], True), (["127.0.0.0/8"], True), (["203.0.113.0/24"], False)],
)
async def test_a_key_is_used_only_from_its_addresses(
    solo: Team, allowed: list[str], passes: bool
) -> None:
    key = await solo.key(allowedIps=allowed)

    proxied = await solo.chat(key)
    graphql = await solo.gql.post("{ viewer { __typename } }", token=key["secret"])

    assert proxied.status_code == (200 if passes else 403)
    assert graphql.status_code == (200 if passes else 403)


def test_a_policy_decides_each_address_the_same_however_often_it_sees_it() -> None:
    policy = KeyPolicy(allowed_ips=(ip_network("10.0.0.0/8"), ip_network("2001:db8::/32")))
    seen = [
        "10.1.2.3",
        "11.1.2.3",
        "::ffff:10.9.9.9",
        "2001:db8::1",
        "2001:db9::1",
        "nonsense",
        None,
    ]
    expected = [True, False, True, True, False, False, False]

    for _ in range(3):  # decided once, then remembered
        assert [policy.allows_ip(address) for address in seen] == expected
    assert KeyPolicy().allows_ip("203.0.113.9")  # no allow-list: any address


def test_the_addresses_a_policy_remembers_are_bounded() -> None:
    policy = KeyPolicy(allowed_ips=(ip_network("10.0.0.0/16"),))

    decisions = [policy.allows_ip(f"10.0.{i // 256}.{i % 256}") for i in range(3000)]

    assert decisions == [True] * 3000
    assert not policy.allows_ip("10.1.0.1")
    assert len(policy._ip_verdicts) <= 1024


@pytest.mark.parametrize(
    ("model", "status"),
    [
        ("gpt-4o", 200),
        ("gpt-4o-mini", 403),  # an allowed id is a prefix of it
        ("gpt-4", 403),  # a prefix of an allowed id (refused as any other: nothing leaks)
        ("GPT-4o", 403),  # another case
        (" gpt-4o", 400),  # surrounding spaces are no model id at all
        ("gpt-4o ", 400),
        ("claude-haiku-4-5", 403),  # another provider's model
    ],
)
async def test_only_the_allowed_models_exactly(solo: Team, model: str, status: int) -> None:
    key = await solo.key(allowedModels=["gpt-4o"])

    response = await solo.chat(key, model=model)

    assert response.status_code == status
    if status == 403:
        assert "gpt-4o" not in response.text  # never which models are allowed


async def test_a_model_in_the_query_string_or_the_path_does_not_get_through(
    solo: Team, fake_provider: FakeProvider
) -> None:
    key = await solo.key(allowedModels=["gpt-4o"])
    sent = len(fake_provider.received)

    async with httpx.AsyncClient() as client:
        in_query = await client.post(
            f"{solo.proxy.url}/v1/chat/completions?model=gpt-4o",
            json={"model": "gpt-4o-mini", "messages": MESSAGES},
            headers={"Authorization": f"Bearer {key['secret']}"},
        )
        in_path = await client.post(
            f"{solo.proxy.url}/v1/chat/completions/gpt-4o",
            json={"model": "gpt-4o-mini", "messages": MESSAGES},
            headers={"Authorization": f"Bearer {key['secret']}"},
        )

    assert in_query.status_code == 403
    assert in_path.status_code == 404
    assert len(fake_provider.received) == sent


async def test_a_key_lists_only_its_models(solo: Team) -> None:
    key = await solo.key(allowedModels=["gpt-4o", "ft:acme-1"])

    models = await solo.openai(key).models.list()
    hidden = solo.openai(key).models.retrieve("gpt-4.1")

    assert sorted(model.id for model in models.data) == ["ft:acme-1", "gpt-4o"]
    with pytest.raises(openai.NotFoundError):
        await hidden


async def test_refusals_are_counted_by_reason_in_usage_and_metrics(solo: Team) -> None:
    key = await solo.key(allowedModels=["gpt-4o"])
    await solo.chat(key, model="gpt-4o-mini")
    await solo.flush()

    rows = await UsageEvent.select(UsageEvent.status, UsageEvent.policy_refusal).where(
        UsageEvent.api_key_id == key["id"]
    )
    metrics = (await solo.gql.http.get("/metrics")).text

    assert rows == [{"status": 403, "policy_refusal": "model"}]
    assert 'traylinx_policy_refusals_total{reason="model"} 1.0' in metrics


# --- Enforcement: rate limits, requests in flight, budgets (memory and Redis) -----------------


async def test_requests_past_the_minutes_limit_get_429_with_the_providers_headers(
    team: Team, clock: FrozenClock
) -> None:
    key = await team.key(requestsPerMinute=3)
    to_the_minutes_end = 60 - clock.now().second  # the clock stands on a whole second

    responses = [await team.chat(key) for _ in range(4)]

    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    first, refused = responses[0], responses[3]
    assert first.headers["x-ratelimit-limit-requests"] == "3"
    assert first.headers["x-ratelimit-remaining-requests"] == "2"
    assert first.headers["x-ratelimit-reset-requests"] == (
        "1m0s" if to_the_minutes_end == 60 else f"{to_the_minutes_end}s"
    )
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.headers["retry-after"] == str(to_the_minutes_end)
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"


async def test_rate_limit_headers_count_from_when_the_response_starts(
    team: Team, clock: FrozenClock, fake_provider: FakeProvider
) -> None:
    # A key with rate limits, a place in flight and a budget (whose counter is seeded first).
    clock.set(clock.now().replace(second=0) + timedelta(minutes=1, seconds=10))
    key = await team.key(
        requestsPerMinute=3,
        maxConcurrentRequests=1,
        tokenBudget={"limit": 1_000, "period": "DAY"},
    )
    answer = fake_provider.faults.hold = asyncio.Event()
    slow = await _held_by_the_provider(fake_provider, team.chat(key))
    clock.advance(timedelta(seconds=20))  # the provider takes 20 s to answer

    busy = await team.chat(key)
    answer.set()
    first = await slow

    assert first.status_code == 200
    assert first.headers["x-ratelimit-remaining-requests"] == "2"
    assert first.headers["x-ratelimit-reset-requests"] == "30s"  # from :30, not from :10
    assert busy.status_code == 429
    assert busy.json()["error"]["code"] == "rate_limit_exceeded"
    assert busy.headers["retry-after"] == "1"


MINUTES_END = datetime(2026, 3, 1, 12, 1, tzinfo=UTC)
MINUTES_END_MS = int(MINUTES_END.timestamp()) * 1000


def _requests_rate() -> RateState:
    return RateState(
        requests_limit=100,
        requests_remaining=7,
        tokens_limit=None,
        tokens_remaining=0,
        reset_at_ms=MINUTES_END_MS,
    )


@pytest.mark.parametrize(
    ("before_s", "openai_reset"),
    [(34.2, "35s"), (60.0, "1m0s"), (0.25, "250ms"), (0.001, "1ms"), (-2.0, "1ms")],
)
def test_rate_limit_headers_say_when_the_minute_starts_again_as_each_provider_writes_it(
    before_s: float, openai_reset: str
) -> None:
    # OpenAI: how long from when the response starts (past the minute's end: as good as now);
    # Anthropic: the instant.
    clock = FrozenClock(MINUTES_END - timedelta(seconds=before_s))

    openai_headers = rate_limit_headers(Provider.OPENAI, _requests_rate(), clock)
    anthropic_headers = rate_limit_headers(Provider.ANTHROPIC, _requests_rate(), clock)

    assert openai_headers == {
        "x-ratelimit-limit-requests": "100",
        "x-ratelimit-remaining-requests": "7",
        "x-ratelimit-reset-requests": openai_reset,
    }
    assert anthropic_headers == {
        "anthropic-ratelimit-requests-limit": "100",
        "anthropic-ratelimit-requests-remaining": "7",
        "anthropic-ratelimit-requests-reset": "2026-03-01T12:01:00Z",
    }


def test_rate_limit_headers_cover_tokens_when_the_key_limits_them() -> None:
    rate = RateState(
        requests_limit=30,
        requests_remaining=29,
        tokens_limit=5_000,
        tokens_remaining=1_234,
        reset_at_ms=MINUTES_END_MS,
    )
    clock = FrozenClock(MINUTES_END - timedelta(seconds=12.5))

    assert rate_limit_headers(Provider.OPENAI, rate, clock) == {
        "x-ratelimit-limit-requests": "30",
        "x-ratelimit-remaining-requests": "29",
        "x-ratelimit-reset-requests": "13s",
        "x-ratelimit-limit-tokens": "5000",
        "x-ratelimit-remaining-tokens": "1234",
        "x-ratelimit-reset-tokens": "13s",
    }
    assert rate_limit_headers(Provider.ANTHROPIC, rate, clock) == {
        "anthropic-ratelimit-requests-limit": "30",
        "anthropic-ratelimit-requests-remaining": "29",
        "anthropic-ratelimit-requests-reset": "2026-03-01T12:01:00Z",
        "anthropic-ratelimit-tokens-limit": "5000",
        "anthropic-ratelimit-tokens-remaining": "1234",
        "anthropic-ratelimit-tokens-reset": "2026-03-01T12:01:00Z",
    }


async def test_anthropic_callers_get_anthropics_rate_limit_headers(
    team: Team, clock: FrozenClock
) -> None:
    key = await team.key(requestsPerMinute=1)

    ok = await team.anthropic(key).messages.with_raw_response.create(
        model="claude-haiku-4-5", max_tokens=8, messages=MESSAGES
    )
    with pytest.raises(anthropic.RateLimitError) as refused:
        await team.anthropic(key).messages.create(
            model="claude-haiku-4-5", max_tokens=8, messages=MESSAGES
        )

    assert ok.headers["anthropic-ratelimit-requests-limit"] == "1"
    assert ok.headers["anthropic-ratelimit-requests-remaining"] == "0"
    minutes_end = clock.now().replace(second=0) + timedelta(minutes=1)
    assert ok.headers["anthropic-ratelimit-requests-reset"] == (
        minutes_end.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    assert refused.value.response.headers["retry-after"]


async def test_the_sdk_waits_for_a_place_in_flight_and_then_succeeds(
    team: Team, fake_provider: FakeProvider
) -> None:
    key = await team.key(maxConcurrentRequests=1)
    answer = fake_provider.faults.hold = asyncio.Event()
    slow = await _held_by_the_provider(fake_provider, team.chat(key))

    async def answer_the_first_once_refused(response: httpx.Response) -> None:
        if response.status_code == 429:
            answer.set()

    watched = httpx.AsyncClient(event_hooks={"response": [answer_the_first_once_refused]})
    # Refused with Retry-After: 1, retried by the SDK itself once the first request ended.
    async with watched:
        sdk = openai.AsyncOpenAI(
            base_url=f"{team.proxy.url}/v1",
            api_key=key["secret"],
            max_retries=2,
            http_client=watched,
        )
        second = await sdk.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=MESSAGES
        )

    assert (await slow).status_code == 200
    assert second.http_response.status_code == 200
    assert second.retries_taken >= 1


async def test_tokens_per_minute_are_counted_when_responses_end(team: Team) -> None:
    key = await team.key(tokensPerMinute=TOKENS_PER_CALL + 1)

    first = await team.chat(key)
    second = await team.chat(key)  # the first used 18 of 19: there is room
    await asyncio.sleep(0.05)
    third = await team.chat(key)

    assert [first.status_code, second.status_code, third.status_code] == [200, 200, 429]
    assert third.json()["error"]["code"] == "rate_limit_exceeded"
    assert first.headers["x-ratelimit-limit-tokens"] == str(TOKENS_PER_CALL + 1)


async def test_a_spent_token_budget_is_429_that_the_sdk_does_not_retry(
    team: Team, fake_provider: FakeProvider
) -> None:
    key = await team.key(tokenBudget={"limit": TOKENS_PER_CALL * 2, "period": "DAY"})
    for _ in range(2):
        assert (await team.chat(key)).status_code == 200
    await asyncio.sleep(0.05)
    sent = len(fake_provider.received)

    with pytest.raises(openai.RateLimitError) as refused:
        await team.openai(key, retries=3).chat.completions.create(model="gpt-4o", messages=MESSAGES)

    assert refused.value.code == "insufficient_quota"
    assert refused.value.response.headers["x-should-retry"] == "false"
    assert "day" in refused.value.message
    assert len(fake_provider.received) == sent  # refused here, asked once, never retried


async def test_a_spend_budget_counts_priced_models_and_says_what_it_leaves_out(
    team: Team, clock: FrozenClock
) -> None:
    # gpt-4o costs $2.50 / $10.00 per million tokens: a call of 11 + 7 tokens costs $0.0000975,
    # counted in whole micro-dollars as 98.
    key = await team.key(spendBudgetUsd={"limit": "0.00019", "period": "MONTH"})
    assert (await team.chat(key, model="gpt-4o")).status_code == 200
    assert (await team.chat(key, model="ft:acme-1")).status_code == 200  # no price: not spend
    assert (await team.chat(key, model="gpt-4o")).status_code == 200
    await asyncio.sleep(0.05)

    refused = await team.chat(key, model="gpt-4o")
    await team.flush()
    data = await team.gql.execute(
        BUDGET_USAGE, {"id": team.project_id, "key": key["id"]}, team.owner.access_token
    )

    assert refused.status_code == 429
    usage = data["project"]["apiKey"]["budgetUsage"]["spendUsd"]
    assert usage == {"limit": "0.00019", "used": "0.000196", "unpricedTokens": TOKENS_PER_CALL}


HOURLY_SPEND = """
query($id: ID!, $from: DateTime!, $to: DateTime!) {
  project(id: $id) {
    usage(from: $from, to: $to, granularity: HOUR) {
      points { start requests spendUsd unpricedTokens }
    }
  }
}
"""


async def test_usage_over_time_shows_spend_and_the_tokens_without_a_price(
    solo: Team, clock: FrozenClock
) -> None:
    key = await solo.key()
    for model in ("gpt-4o", "ft:acme-1", "gpt-4o"):
        assert (await solo.chat(key, model=model)).status_code == 200
    await solo.flush()
    hour = clock.now().replace(minute=0, second=0, microsecond=0)

    data = await solo.gql.execute(
        HOURLY_SPEND,
        {
            "id": solo.project_id,
            "from": (hour - timedelta(hours=1)).isoformat(),
            "to": (hour + timedelta(hours=1)).isoformat(),
        },
        solo.owner.access_token,
    )

    before, this_hour = data["project"]["usage"]["points"]
    assert (before["spendUsd"], before["unpricedTokens"]) == ("0.00", 0)
    assert this_hour["requests"] == 3
    # Two gpt-4o calls at 98 micro-dollars each; the fine-tuned model has no price.
    assert (this_hour["spendUsd"], this_hour["unpricedTokens"]) == ("0.000196", TOKENS_PER_CALL)


async def test_a_project_budget_holds_for_all_its_keys(team: Team) -> None:
    await team.gql.execute(
        UPDATE_BUDGET,
        {
            "input": {
                "projectId": team.project_id,
                "tokenBudget": {"limit": TOKENS_PER_CALL * 2, "period": "MONTH"},
            }
        },
        team.owner.access_token,
    )
    first, second = await team.key(), await team.key()

    results = [await team.chat(first), await team.chat(second)]
    await asyncio.sleep(0.05)
    results += [await team.chat(first), await team.chat(second)]

    assert [r.status_code for r in results] == [200, 200, 429, 429]
    assert "project's token budget" in results[2].json()["error"]["message"]


async def test_budget_usage_reads_what_was_recorded_this_period(team: Team) -> None:
    key = await team.key(tokenBudget={"limit": 1_000, "period": "DAY"})
    await team.gql.execute(
        UPDATE_BUDGET,
        {
            "input": {
                "projectId": team.project_id,
                "tokenBudget": {"limit": 5_000, "period": "MONTH"},
            }
        },
        team.owner.access_token,
    )
    await team.chat(key)
    await team.flush()

    data = await team.gql.execute(
        BUDGET_USAGE, {"id": team.project_id, "key": key["id"]}, team.owner.access_token
    )

    key_usage = data["project"]["apiKey"]["budgetUsage"]["tokens"]
    project_usage = data["project"]["budgetUsage"]["tokens"]
    assert (key_usage["limit"], key_usage["used"], key_usage["period"]) == (1_000, 18, "DAY")
    assert key_usage["resetsAt"].endswith("T00:00:00Z")
    assert (project_usage["limit"], project_usage["used"]) == (5_000, 18)


async def test_a_budget_survives_a_restart(solo: Team) -> None:
    """A process's counters go with it; the next one seeds them from the usage recorded."""
    key = await solo.key(tokenBudget={"limit": TOKENS_PER_CALL * 2, "period": "DAY"})
    for _ in range(2):
        assert (await solo.chat(key)).status_code == 200
    await solo.flush()

    solo.proxy.services.policies._counters = MemoryCounters()  # what a new process starts with

    assert (await solo.chat(key)).status_code == 429


# --- Policy changes, and rotation ---------------------------------------------------------------


async def test_a_policy_change_applies_from_the_next_request(solo: Team) -> None:
    key = await solo.key()
    assert (await solo.chat(key)).status_code == 200

    await solo.set_policy(key, scopes=["READ"])

    assert (await solo.chat(key)).status_code == 403


async def test_rotation_keeps_the_old_key_working_for_its_grace_period(
    solo: Team, clock: FrozenClock
) -> None:
    old = await solo.key(requestsPerMinute=50)

    data = await solo.gql.execute(
        ROTATE, {"input": {"id": old["id"], "gracePeriodSeconds": 3_600}}, solo.owner.access_token
    )

    payload = data["rotateApiKey"]
    new = {**payload["apiKey"], "secret": payload["secret"]}
    assert new["note"] == "svc"
    assert new["policy"] == {"requestsPerMinute": 50}
    assert payload["previousApiKey"]["replacedBy"] == new["id"]
    assert payload["previousApiKey"]["expiresAt"] is not None
    assert (await solo.chat(old)).status_code == 200
    assert (await solo.chat(new)).status_code == 200
    clock.advance(timedelta(hours=1, seconds=1))
    assert (await solo.chat(old)).status_code == 401
    assert (await solo.chat(new)).status_code == 200


async def test_rotation_without_grace_revokes_the_old_key_at_once(solo: Team) -> None:
    old = await solo.key()

    data = await solo.gql.execute(
        ROTATE, {"input": {"id": old["id"], "gracePeriodSeconds": 0}}, solo.owner.access_token
    )

    assert data["rotateApiKey"]["previousApiKey"] is None
    assert (await solo.chat(old)).status_code == 401
    assert data["rotateApiKey"]["secret"].startswith("tlx_")


@pytest.mark.parametrize("grace", [-1, 604_801, 2**31 - 1])
async def test_a_grace_period_out_of_range_is_refused(solo: Team, grace: int) -> None:
    old = await solo.key()

    data = await solo.gql.execute(
        ROTATE, {"input": {"id": old["id"], "gracePeriodSeconds": grace}}, solo.owner.access_token
    )

    assert data["rotateApiKey"]["userErrors"][0]["field"] == ["gracePeriodSeconds"]
    assert (await solo.chat(old)).status_code == 200


# --- Usage on every stream ----------------------------------------------------------------------


async def test_a_stream_that_did_not_ask_for_usage_is_counted_and_left_as_asked(
    solo: Team,
) -> None:
    key = await solo.key()

    async with (
        httpx.AsyncClient(timeout=30) as client,
        client.stream(
            "POST",
            f"{solo.proxy.url}/v1/chat/completions",
            json={"model": "gpt-4o", "messages": MESSAGES, "stream": True},
            headers={"Authorization": f"Bearer {key['secret']}"},
        ) as response,
    ):
        raw = b"".join([chunk async for chunk in response.aiter_bytes()])
    await solo.flush()

    events = [line[6:] for line in raw.decode().split("\n\n") if line.startswith("data: ")]
    chunks = [json.loads(event) for event in events if event != "[DONE]"]
    assert chunks
    assert all("usage" not in chunk for chunk in chunks)
    assert all(chunk["choices"] for chunk in chunks)
    assert events[-1] == "[DONE]"
    rows = await UsageEvent.select(UsageEvent.input_tokens, UsageEvent.output_tokens).where(
        UsageEvent.api_key_id == key["id"]
    )
    assert rows == [{"input_tokens": INPUT_TOKENS, "output_tokens": OUTPUT_TOKENS}]


async def test_a_stream_that_asked_for_usage_gets_it(solo: Team) -> None:
    key = await solo.key()

    stream = await solo.openai(key).chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]

    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == INPUT_TOKENS


async def test_the_sdk_sees_the_stream_it_asked_for(solo: Team) -> None:
    key = await solo.key()

    stream = await solo.openai(key).chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
    )
    chunks = [chunk async for chunk in stream]

    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello there"
    assert all(chunk.usage is None for chunk in chunks)
