"""Several serving processes on one database: what each keeps for itself must not make them
disagree, count twice or raise an alert twice.

Real `python -m app serve --workers 2` servers, and, for what needs a clock, two of a thing a
process keeps (a last-use recorder, a retention chore) side by side in one process.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from litestar import Litestar

from app import leases
from app.api_keys.tables import ApiKey
from app.api_keys.verifier import LastUseRecorder
from app.clock import FrozenClock
from app.services import RawEventRetention
from tests.fake_provider import FakeProvider
from tests.graphql_client import GraphQLClient
from tests.helpers import DELETE_KEY, add_llm_key, create_key, create_project, sign_up
from tests.processes import server_log, server_process

WORKERS = 2
PROJECT_NAME = "{ viewer { ... on Project { id name } } }"
MESSAGES = [{"role": "user", "content": "Hi"}]
USAGE_AND_ALERTS = """
query Usage($id: ID!, $from: DateTime!, $to: DateTime!) {
  project(id: $id) {
    usage(from: $from, to: $to, granularity: HOUR) { totals { requests } }
    securityAlerts { edges { node { kind apiKeyId } } }
  }
}
"""
# Logged at INFO as JSON lines, so that each request's line names the worker that answered it.
OBSERVED = {"TRAYLINX_LOG_LEVEL": "INFO", "TRAYLINX_LOG_FORMAT": "json"}
# Usage written soon after it happens, so that the tests need not wait long.
QUICK_USAGE = {"TRAYLINX_USAGE_FLUSH_SECONDS": "0.2"}


# --- several processes' own state, side by side -------------------------------------------------


async def test_a_last_use_another_process_wrote_is_never_moved_back(
    app: Litestar, gql: GraphQLClient, clock: FrozenClock
) -> None:
    owner = await sign_up(gql)
    project = await create_project(gql, owner)
    key = await create_key(gql, owner, project["id"])
    later, earlier = LastUseRecorder(), LastUseRecorder()  # two processes' recorders
    later.saw(key["id"], clock.now(), "198.51.100.2")
    earlier.saw(key["id"], clock.now() - timedelta(seconds=3), "198.51.100.1")

    await later.flush()
    await earlier.flush()  # its flush comes last, with the older use

    row = await ApiKey.select(ApiKey.last_used_at, ApiKey.last_used_ip).where(
        ApiKey.id == key["id"]
    )
    assert row == [{"last_used_at": clock.now(), "last_used_ip": "198.51.100.2"}]


async def test_of_processes_asking_at_once_one_takes_a_lease(
    app: Litestar, clock: FrozenClock
) -> None:
    holders = [f"process-{index}" for index in range(6)]

    taken = await asyncio.gather(
        *(
            leases.take("chore", holder, now=clock.now(), duration=timedelta(hours=1))
            for holder in holders
        )
    )

    assert taken.count(True) == 1


async def test_a_lease_is_renewed_by_its_holder_and_taken_over_once_it_expires(
    app: Litestar, clock: FrozenClock
) -> None:
    hour = timedelta(hours=1)

    async def take(holder: str) -> bool:
        return await leases.take("chore", holder, now=clock.now(), duration=2 * hour)

    first = [await take("a"), await take("b")]
    clock.advance(hour)
    renewed = [await take("a"), await take("b")]
    clock.advance(2 * hour - timedelta(seconds=1))  # "a" is gone; its lease still holds
    still_held = await take("b")
    clock.advance(timedelta(seconds=1))
    taken_over = [await take("b"), await take("a")]

    assert first == [True, False]
    assert renewed == [True, False]
    assert still_held is False
    assert taken_over == [True, False]


class _CountedIngest:
    def __init__(self) -> None:
        self.runs: list[datetime] = []

    async def forget_raw_events(self, now: datetime) -> int:
        self.runs.append(now)
        return 0


async def test_raw_usage_retention_runs_in_one_process_at_a_time(
    app: Litestar, clock: FrozenClock
) -> None:
    ingest = _CountedIngest()
    # Each process's hourly chore, on one database.
    first, second = (RawEventRetention(ingest, clock) for _ in range(2))  # type: ignore[arg-type]

    for _ in range(3):
        await first.run()
        await second.run()
        clock.advance(timedelta(hours=1))
    clock.advance(RawEventRetention.HOLD_FOR)  # the first process stopped meanwhile
    await second.run()

    assert len(ingest.runs) == 4  # one per hour, then one by the process that took over


# --- real workers --------------------------------------------------------------------------------


@pytest.mark.slow
async def test_a_deleted_key_is_refused_by_every_worker_at_once_and_alerted_once(
    database_url: str, tmp_path: Path
) -> None:
    settings = {**OBSERVED, **QUICK_USAGE}
    async with server_process(database_url, tmp_path, settings, workers=WORKERS) as http:
        gql = GraphQLClient(http)
        owner = await sign_up(gql)
        project = await create_project(gql, owner)
        key = await create_key(gql, owner, project["id"])
        # Every worker reads (and, on SQLite, keeps) the key before it is deleted.
        before = await _each_on_a_new_connection(http, "before", key["secret"])

        await gql.execute(DELETE_KEY, {"input": {"id": key["id"]}}, owner.access_token)
        after = await _each_on_a_new_connection(http, "after", key["secret"])

        alerts = await _alerts_once_written(gql, owner.access_token, project["id"])

    answered_by = _workers_that_answered(tmp_path, [*before, *after])
    assert {status for _, status in before} == {200}
    assert {status for _, status in after} == {401}
    assert len({answered_by[rid] for rid, _ in after}) == WORKERS
    assert alerts == [{"kind": "REVOKED_KEY_IN_USE", "apiKeyId": key["id"]}]


@pytest.mark.slow
async def test_proxied_requests_served_by_several_workers_are_counted_once_each(
    database_url: str, tmp_path: Path, fake_provider: FakeProvider
) -> None:
    settings = {
        **OBSERVED,
        **QUICK_USAGE,
        "TRAYLINX_OPENAI_BASE_URL": f"{fake_provider.base_url}/v1",
        # A spike from the first hour of traffic: past 5 requests.
        "TRAYLINX_ALERT_REQUEST_SPIKE_FLOOR": "5",
    }
    requests = 40
    async with server_process(database_url, tmp_path, settings, workers=WORKERS) as http:
        gql = GraphQLClient(http)
        owner = await sign_up(gql)
        project = await create_project(gql, owner)
        key = await create_key(gql, owner, project["id"])
        await add_llm_key(gql, owner, project["id"], "OPENAI", "sk-openai-upstream-0000000000")
        request_ids = [f"proxied-{index}" for index in range(requests)]
        await asyncio.gather(*(_complete(http, key["secret"], rid) for rid in request_ids))

        usage = await _usage_once_written(gql, owner.access_token, project["id"], requests)
        alerts = await _alerts_once_written(gql, owner.access_token, project["id"])

    answered_by = _workers_that_answered(tmp_path, [(rid, 200) for rid in request_ids])
    assert len(fake_provider.received) == requests
    assert len(set(answered_by.values())) == WORKERS
    assert usage == requests
    assert alerts == [{"kind": "REQUEST_SPIKE", "apiKeyId": key["id"]}]


async def _each_on_a_new_connection(
    http: httpx.AsyncClient, label: str, secret: str, count: int = 24
) -> list[tuple[str, int]]:
    """`count` requests made with a key, a few at a time, each on a connection of its own (so
    that any worker may take it); (request id, status) of each."""
    ids = [f"{label}-{index}-{uuid.uuid4().hex[:8]}" for index in range(count)]
    fresh = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=http.base_url, limits=fresh, timeout=10) as client:

        async def ask(request_id: str) -> tuple[str, int]:
            response = await client.post(
                "/graphql",
                json={"query": PROJECT_NAME},
                headers={"Authorization": f"Bearer {secret}", "x-request-id": request_id},
            )
            return request_id, response.status_code

        answers = []
        for start in range(0, count, 4):
            answers += await asyncio.gather(*(ask(rid) for rid in ids[start : start + 4]))
    return answers


async def _complete(http: httpx.AsyncClient, secret: str, request_id: str) -> None:
    client = openai.AsyncOpenAI(
        base_url=f"{http.base_url}/v1",
        api_key=secret,
        max_retries=0,
        default_headers={"x-request-id": request_id},
        http_client=httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0)),
    )
    async with client:
        await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]


def _workers_that_answered(var_dir: Path, answers: Iterable[tuple[str, int]]) -> dict[str, int]:
    """The process id that logged each request's access line."""
    wanted = {request_id for request_id, _ in answers}
    pids = {}
    for line in server_log(var_dir).read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line from before logging was configured
        if entry.get("logger") == "uvicorn.access" and entry.get("request_id") in wanted:
            pids[entry["request_id"]] = entry["pid"]
    assert set(pids) == wanted
    return pids


async def _usage_and_alerts(gql: GraphQLClient, token: str, project_id: str) -> dict[str, Any]:
    now = datetime.now().astimezone()
    variables = {
        "id": project_id,
        "from": (now - timedelta(hours=2)).isoformat(),
        "to": (now + timedelta(hours=2)).isoformat(),
    }
    project: dict[str, Any] = (await gql.execute(USAGE_AND_ALERTS, variables, token))["project"]
    return project


async def _usage_once_written(
    gql: GraphQLClient, token: str, project_id: str, expected: int
) -> int:
    """The project's requests once the workers wrote at least `expected` (or gave up waiting),
    and a few flushes later, when any double count would have shown."""
    requests = 0
    for _ in range(100):
        found = await _usage_and_alerts(gql, token, project_id)
        requests = found["usage"]["totals"]["requests"]
        if requests >= expected:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)
    found = await _usage_and_alerts(gql, token, project_id)
    total: int = found["usage"]["totals"]["requests"]
    return total


async def _alerts_once_written(
    gql: GraphQLClient, token: str, project_id: str
) -> list[dict[str, Any]]:
    """The project's alerts once some are written, and a few flushes later."""
    for _ in range(100):
        if (await _usage_and_alerts(gql, token, project_id))["securityAlerts"]["edges"]:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)
    found = await _usage_and_alerts(gql, token, project_id)
    return [edge["node"] for edge in found["securityAlerts"]["edges"]]
