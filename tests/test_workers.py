"""Several serving processes on one database: what each keeps for itself must not make them
disagree, count twice or raise an alert twice.

Real `python -m app serve --workers 2` servers, and, for what needs a clock, two of a thing a
process keeps (a last-use recorder, a retention chore) side by side in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
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
from app.usage.retention import RawEventRetention
from tests.fake_provider import FakeProvider
from tests.graphql_client import GraphQLClient
from tests.helpers import DELETE_KEY, add_llm_key, create_key, create_project, sign_up
from tests.processes import clear_of_the_periods_end, server_log, server_process

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


@pytest.fixture
async def key(app: Litestar, gql: GraphQLClient) -> dict[str, Any]:
    owner = await sign_up(gql)
    project = await create_project(gql, owner)
    return await create_key(gql, owner, project["id"])


async def test_a_last_use_another_process_wrote_is_never_moved_back(
    key: dict[str, Any], clock: FrozenClock
) -> None:
    later, earlier = LastUseRecorder(), LastUseRecorder()  # two processes' recorders
    later.saw(key["id"], clock.now(), "198.51.100.2")
    earlier.saw(key["id"], clock.now() - timedelta(seconds=3), "198.51.100.1")

    await later.flush()
    await earlier.flush()  # its flush comes last, with the older use

    row = await ApiKey.select(ApiKey.last_used_at, ApiKey.last_used_ip).where(
        ApiKey.id == key["id"]
    )
    assert row == [{"last_used_at": clock.now(), "last_used_ip": "198.51.100.2"}]


async def test_a_last_use_flush_called_while_another_writes_returns_once_that_one_is_written(
    key: dict[str, Any], clock: FrozenClock
) -> None:
    recorder = LastUseRecorder()
    recorder.saw(key["id"], clock.now(), "198.51.100.7")

    underway = asyncio.create_task(recorder.flush())  # the recorder's own round
    await asyncio.sleep(0)  # it has taken what was pending, and is writing it
    asked = await recorder.flush()  # a caller wanting what was seen
    row = await ApiKey.select(ApiKey.last_used_ip).where(ApiKey.id == key["id"]).first()

    assert asked == 0
    assert row == {"last_used_ip": "198.51.100.7"}
    assert await underway == 1


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
    first, second = (RawEventRetention(clock, ingest.forget_raw_events) for _ in range(2))

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
        ask = _asking_with(http, key["secret"])
        # Every worker reads (and, on SQLite, keeps) the key before it is deleted.
        before = await _until_each_worker_answered(tmp_path, "before", ask)

        await gql.execute(DELETE_KEY, {"input": {"id": key["id"]}}, owner.access_token)
        after = await _until_each_worker_answered(tmp_path, "after", ask)

        alerts = await _alerts_once_written(gql, owner.access_token, project["id"])

    assert {status for _, status in before} == {200}
    assert {status for _, status in after} == {401}
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
        # Production's writer (the other tests write inline, to start faster): one child per
        # worker, each writing its own worker's batches.
        "TRAYLINX_USAGE_WRITER": "process",
    }
    async with server_process(database_url, tmp_path, settings, workers=WORKERS) as http:
        gql = GraphQLClient(http)
        owner = await sign_up(gql)
        project = await create_project(gql, owner)
        key = await create_key(gql, owner, project["id"])
        await add_llm_key(gql, owner, project["id"], "OPENAI", "sk-openai-upstream-0000000000")
        await clear_of_the_periods_end(3600, margin_s=30)  # a spike: one hour's, not two
        answers = await _until_each_worker_answered(
            tmp_path, "proxied", _completing_with(http, key["secret"]), at_least=40
        )

        usage = await _usage_once_written(gql, owner.access_token, project["id"], len(answers))
        alerts = await _alerts_once_written(gql, owner.access_token, project["id"])

    assert {status for _, status in answers} == {200}
    assert len(fake_provider.received) == len(answers)
    assert usage == len(answers)
    assert alerts == [{"kind": "REQUEST_SPIKE", "apiKeyId": key["id"]}]


@pytest.mark.slow
async def test_every_worker_cuts_slow_heads_as_configured(tmp_path: Path) -> None:
    """The limits travel from the settings to each worker process's connections."""
    settings = {**OBSERVED, "TRAYLINX_REQUEST_HEAD_TIMEOUT_SECONDS": "1"}
    database_url = f"sqlite:///{tmp_path / 'served.sqlite3'}"
    answers: list[tuple[float, bytes]] = []
    async with server_process(database_url, tmp_path, settings, workers=WORKERS) as http:
        port = http.base_url.port
        assert port is not None
        # A worker may take every connection that waits when it looks: a few at a time, until
        # each worker has had some.
        for _ in range(10):
            answers += await asyncio.gather(*(_slow_head(port, delay=0.1 * i) for i in range(4)))
            if len(_workers_that_logged(tmp_path, "request head from")) == WORKERS:
                break

    assert all(answer.startswith(b"HTTP/1.1 408 ") for _, answer in answers)
    assert all(elapsed < 1 + 5 for elapsed, _ in answers)  # the timeout, and a busy machine
    assert len(_workers_that_logged(tmp_path, "request head from")) == WORKERS


async def _slow_head(port: int, *, delay: float) -> tuple[float, bytes]:
    """After `delay`, a head sent a header line at a time until the server answers or hangs up:
    how long that took, and what it answered."""
    await asyncio.sleep(delay)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")
        received = b""
        async with asyncio.timeout(15):
            while not reader.at_eof():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.2):
                        received += await reader.read(65536)
                if not received and not writer.is_closing():
                    writer.write(b"X-Slow: 1\r\n")
        return time.monotonic() - started, received
    finally:
        writer.close()


Ask = Callable[[str], Awaitable[int]]


async def _until_each_worker_answered(
    var_dir: Path, label: str, ask: Ask, *, at_least: int = 24
) -> list[tuple[str, int]]:
    """Requests made by `ask(request id)`, four at a time, each on a connection of its own (so
    that any worker may take it), until there were `at_least` and every worker answered some;
    (request id, status) of each. (A worker may take all the connections that wait when it
    looks: how many each gets is up to the moment.)"""
    answers: list[tuple[str, int]] = []
    for batch in range(100):
        ids = [f"{label}-{batch}-{index}-{uuid.uuid4().hex[:8]}" for index in range(4)]
        answers += zip(ids, await asyncio.gather(*(ask(rid) for rid in ids)), strict=True)
        workers = set(_workers_that_answered(var_dir, answers).values())
        if len(answers) >= at_least and len(workers) == WORKERS:
            return answers
    raise AssertionError(f"the same worker answered all of {len(answers)} requests")


def _asking_with(http: httpx.AsyncClient, secret: str) -> Ask:
    """The project's name over GraphQL with a project key."""

    async def ask(request_id: str) -> int:
        async with httpx.AsyncClient(base_url=http.base_url, timeout=10) as client:
            response = await client.post(
                "/graphql",
                json={"query": PROJECT_NAME},
                headers={"Authorization": f"Bearer {secret}", "x-request-id": request_id},
            )
        return response.status_code

    return ask


def _completing_with(http: httpx.AsyncClient, secret: str) -> Ask:
    """A chat completion through the proxy with a project key, as the OpenAI SDK sends it."""

    async def ask(request_id: str) -> int:
        client = openai.AsyncOpenAI(
            base_url=f"{http.base_url}/v1",
            api_key=secret,
            max_retries=0,
            default_headers={"x-request-id": request_id},
        )
        async with client:
            await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
        return 200

    return ask


def _workers_that_logged(var_dir: Path, text: str) -> set[int]:
    """The process ids of the log lines whose message holds `text`."""
    return {entry["pid"] for entry in _log_entries(var_dir) if text in entry.get("message", "")}


def _log_entries(var_dir: Path) -> list[dict[str, Any]]:
    entries = []
    for line in server_log(var_dir).read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue  # a line from before logging was configured
    return entries


def _workers_that_answered(var_dir: Path, answers: Iterable[tuple[str, int]]) -> dict[str, int]:
    """The process id that logged each request's access line."""
    wanted = {request_id for request_id, _ in answers}
    pids = {}
    for entry in _log_entries(var_dir):
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
