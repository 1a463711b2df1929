"""Webhook deliveries: how fast a backlog drains, and how soon an event reaches its endpoint.

A receiver runs in the bench process (a thread of its own, aiohttp on loopback) and answers 204
to everything. The service runs as `python -m app serve`, with loopback endpoints allowed.

1. Drain: a backlog of `createApiKey` events is queued while delivery is off
   (TRAYLINX_WEBHOOKS_ENABLED=false); then a server with delivery on starts and sends it all.
   Throughput is counted from the first arrival to the last (not the server's start-up); p50 and
   p99 are how long after the first arrival half and 99 % of the backlog had arrived. Then the
   same with `--workers 2`, both processes claiming from the one outbox.
2. Delay: keys created one at a time through GraphQL on a server with delivery on; each delay is
   the receiver's arrival time minus the event's own `timestamp` (written in the transaction
   that creates the key): the time from the event to its delivery, on one machine's clock.
"""

from __future__ import annotations

import asyncio
import json
import math
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
from aiohttp import web

from app.security.crypto import EncryptionKey
from bench.harness import (
    HarnessError,
    RunningService,
    log_tail,
    progress,
    provisioned_database,
    server_process,
)
from bench.model import Measurement, RunOptions, Scenario, ScenarioResult
from bench.scenarios.api_keys import CREATE_API_KEY, CREATE_PROJECT, mutation_payload
from bench.scenarios.graphql import sign_up

ADD_WEBHOOK = (
    "mutation($i: AddWebhookInput!){ addWebhook(input:$i){ webhook{ id } secret "
    "userErrors{ message } } }"
)
# Every server of the run opens the signing secrets the first one sealed.
KEYRING = EncryptionKey.generate("bench").encode()
LOOPBACK_ALLOWED = {
    "TRAYLINX_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
    "TRAYLINX_ENCRYPTION_KEYS": KEYRING,
}
DELIVERY_OFF = {**LOOPBACK_ALLOWED, "TRAYLINX_WEBHOOKS_ENABLED": "false"}
QUEUE_CONCURRENCY = 16
DRAIN_TIMEOUT_S = 120


@dataclass
class Arrivals:
    """What reached the receiver: arrival wall time, and the event's own timestamp."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    times: list[float] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)

    def record(self, body: bytes) -> None:
        arrived = time.time()
        sent_at = datetime.fromisoformat(json.loads(body)["timestamp"]).timestamp()
        with self.lock:
            self.times.append(arrived)
            self.delays.append(arrived - sent_at)

    def count(self) -> int:
        with self.lock:
            return len(self.times)

    def take(self) -> tuple[list[float], list[float]]:
        with self.lock:
            taken = (self.times, self.delays)
            self.times, self.delays = [], []
        return taken


@contextmanager
def receiver() -> Iterator[tuple[str, Arrivals]]:
    """An endpoint on loopback in a thread of its own; yields its URL and what arrives."""
    arrivals = Arrivals()
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    port: list[int] = []

    async def receive(request: web.Request) -> web.Response:
        arrivals.record(await request.read())
        return web.Response(status=204)

    async def serve() -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/hooks", receive)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port.append(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        return runner

    def thread_main() -> None:
        asyncio.set_event_loop(loop)
        runner = loop.run_until_complete(serve())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())

    thread = threading.Thread(target=thread_main, name="webhook-receiver", daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield f"http://127.0.0.1:{port[0]}/hooks", arrivals
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@dataclass(frozen=True)
class Project:
    token: str
    project_id: str


def registered(service: RunningService, url: str) -> Project:
    token = sign_up(service)
    project = mutation_payload(service, CREATE_PROJECT, {"name": "Bench"}, token, "createProject")
    project_id = project["project"]["id"]
    mutation_payload(
        service,
        ADD_WEBHOOK,
        {"projectId": project_id, "url": url, "events": ["API_KEY_CREATED"]},
        token,
        "addWebhook",
    )
    return Project(token, project_id)


async def create_keys(service: RunningService, project: Project, count: int) -> None:
    """`count` createApiKey mutations, QUEUE_CONCURRENCY at a time: `count` events."""
    gate = asyncio.Semaphore(QUEUE_CONCURRENCY)
    async with httpx.AsyncClient(base_url=service.base_url, timeout=60) as client:

        async def one(n: int) -> None:
            async with gate:
                response = await client.post(
                    "/graphql",
                    json={
                        "query": CREATE_API_KEY,
                        "variables": {"i": {"projectId": project.project_id, "note": f"k{n}"}},
                    },
                    headers={"Authorization": f"Bearer {project.token}"},
                )
                if response.status_code != 200 or "errors" in response.json():
                    raise HarnessError(f"createApiKey failed: {response.text[:300]}")

        await asyncio.gather(*(one(n) for n in range(count)))


def wait_for(arrivals: Arrivals, count: int, service: RunningService) -> None:
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while arrivals.count() < count:
        if time.monotonic() > deadline:
            raise HarnessError(
                f"only {arrivals.count()} of {count} deliveries arrived; the server's log ends: "
                + log_tail(service.log_path)
            )
        if service.exit_problem():
            raise HarnessError(service.exit_problem() or "")
        time.sleep(0.01)


def folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def drain(
    database_url: str, workdir: Path, url: str, arrivals: Arrivals, backlog: int, workers: int
) -> Measurement:
    label = f"drain {backlog} queued, {workers} process{'es' if workers > 1 else ''}"
    with server_process(
        database_url, folder(workdir / f"queue-{workers}"), DELIVERY_OFF
    ) as service:
        project = registered(service, url)
        progress(f"queueing {backlog} events with delivery off")
        asyncio.run(create_keys(service, project, backlog))
    arrivals.take()
    with server_process(
        database_url, folder(workdir / f"drain-{workers}"), LOOPBACK_ALLOWED, workers=workers
    ) as service:
        wait_for(arrivals, backlog, service)
        time.sleep(0.5)  # a duplicate, if there were one, would arrive meanwhile
    times, _ = arrivals.take()
    if len(times) != backlog:
        raise HarnessError(f"{len(times)} deliveries arrived for {backlog} events")
    times.sort()
    since_first = [t - times[0] for t in times]
    span = max(since_first[-1], 1e-6)
    return Measurement(
        label=label,
        connections=None,
        requests=backlog,
        duration_s=round(span, 3),
        rps=round((backlog - 1) / span, 1),
        p50_ms=round(percentile(since_first, 0.5) * 1000, 1),
        p99_ms=round(percentile(since_first, 0.99) * 1000, 1),
    )


def event_delay(
    database_url: str, workdir: Path, url: str, arrivals: Arrivals, events: int
) -> Measurement:
    with server_process(database_url, folder(workdir / "delay"), LOOPBACK_ALLOWED) as service:
        project = registered(service, url)
        arrivals.take()
        started = time.monotonic()
        for _ in range(events):
            asyncio.run(create_keys(service, project, 1))
        wait_for(arrivals, events, service)
        elapsed = time.monotonic() - started
    _, delays = arrivals.take()
    delays.sort()
    return Measurement(
        label=f"event to delivery, {events} events one at a time",
        connections=1,
        requests=events,
        duration_s=round(elapsed, 3),
        rps=round(events / elapsed, 1),
        p50_ms=round(percentile(delays, 0.5) * 1000, 2),
        p99_ms=round(percentile(delays, 0.99) * 1000, 2),
    )


def percentile(ordered: list[float], fraction: float) -> float:
    # Nearest rank, as the other scenarios count it.
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def run(options: RunOptions) -> ScenarioResult:
    backlog = 300 if options.quick else 2000
    events = 50 if options.quick else 300
    with (
        tempfile.TemporaryDirectory(prefix="traylinx-bench-") as workdir_name,
        receiver() as (url, arrivals),
    ):
        workdir = Path(workdir_name)
        with provisioned_database(options.database, workdir) as database_url:
            one = drain(database_url, workdir, url, arrivals, backlog, workers=1)
            two = drain(database_url, workdir, url, arrivals, backlog, workers=2)
            delay = event_delay(database_url, workdir, url, arrivals, events)
    ratio = round(two.rps / one.rps, 3) if one.rps else None
    two = Measurement(**{**two.__dict__, "ratio": ratio})
    return ScenarioResult(
        measurements=[one, two, delay],
        ratio_label="vs 1 process",
        facts={
            "receiver": "aiohttp on loopback in the bench process, answering 204",
            "events": "createApiKey mutations (API_KEY_CREATED), one webhook subscribed",
            "drain": "rate from the first arrival to the last; p50/p99: time after the first "
            "arrival by which half / 99 % had arrived",
            "delay": "arrival time minus the payload's `timestamp`; the server that committed "
            "the event sends it (it is woken at commit); other processes poll every 1 s",
            "attempts": "TRAYLINX_WEBHOOK_CONCURRENCY (16) at once per process",
        },
        notes=[
            f"every delivery arrived exactly once ({backlog} + {backlog} + {events})",
        ],
    )


SCENARIO = Scenario(
    name="webhooks",
    title="Webhook deliveries",
    summary="a queued backlog drained by 1 and 2 processes; event-to-delivery delay",
    run=run,
)
