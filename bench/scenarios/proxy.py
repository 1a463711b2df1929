"""LLM proxy overhead: `POST /v1/chat/completions` through the proxy vs straight to the upstream.

The upstream is a fake OpenAI API (bench/fake_upstream.py): a bare asyncio protocol with
pre-built answers in its own process, so that what grows between the direct rows and the proxied
ones is the proxy. The service is set up the way a client sets it up, over GraphQL: sign up,
create a project, add an OpenAI provider key (pointed at the fake by TRAYLINX_OPENAI_BASE_URL),
create a project API key. Then:

1. wrk at 1 and 32 connections, the fake directly and through the proxy with a project key:
   throughput, p50 and p99. Goals: the proxy adds at most 0.6 ms to the median at 1 connection,
   and serves at least 2,500 requests/s at 32.
2. Time to first chunk of a streamed answer (`"stream": true`), direct and through the proxy,
   from a sequential client on one keep-alive connection: from writing the request to having
   read the first server-sent event. Goal: the proxy adds at most 1 ms to the median. The fake
   sends its first frame at once and the rest a little later, so a proxy that buffered streams
   would pay that delay here.
3. Usage recording: a second service, started with TRAYLINX_USAGE_ENABLED=false (its own
   database and its own fake upstream), runs beside the first; the 32-connection proxied run
   alternates between the two in short runs, ROUNDS of each, the order flipping every round, so
   both see the same machine (see `bench.wrk.Alternation`). Goal: with recording at least 0.9 of
   the throughput without, as the median of the rounds' ratios. So that the comparison is
   honest, the rows in `usage_events` are counted once each service has shut down (and
   flushed), and compared with the requests its fake received through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.fake_upstream import COMPLETION, STREAM_GAP_S, stream_frames
from bench.harness import (
    LOOPBACK,
    REPO_ROOT,
    HarnessError,
    RunningService,
    free_port,
    log_tail,
    progress,
    provisioned_database,
    server_process,
    stop_process,
)
from bench.model import Measurement, RunOptions, Scenario, ScenarioResult
from bench.scenarios.api_keys import (
    CREATE_API_KEY,
    CREATE_PROJECT,
    event_loop_factory,
    loop_name,
    mutation_payload,
    percentile,
    verdict,
)
from bench.scenarios.graphql import sign_up
from bench.wrk import (
    COMPARED_FLUSH_S,
    QUICK_ROUNDS,
    ROUND_S,
    ROUNDS,
    SETTLE_S,
    Alternation,
    HttpCase,
    alternate,
    comparison_settings,
    ensure_wrk,
    measure,
    preflight,
    server_remarks,
    wrk_description,
)

GOAL_CONNECTIONS = 32
CONCURRENCY_LEVELS = (1, GOAL_CONNECTIONS)
OVERHEAD_GOAL_MS = 0.6
THROUGHPUT_GOAL_RPS = 2_500
FIRST_CHUNK_GOAL_MS = 1.0
USAGE_GOAL = 0.9

STREAM_SAMPLES = 200
STREAM_WARMUP = 50
# Labelled wherever they are used: a smoke test, not the headline number.
QUICK_STREAM_SAMPLES = 50
QUICK_STREAM_WARMUP = 10
STREAM_TIMEOUT_S = 10.0
FAKE_STARTUP_TIMEOUT_S = 10.0

COMPLETIONS_PATH = "/v1/chat/completions"
MODEL = "gpt-4o"
REQUEST: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
# The fake always ends its stream with a usage chunk; a client that did not ask for one gets the
# stream without it, so the bench asks, and the stream must come back byte for byte.
STREAM_REQUEST: dict[str, Any] = REQUEST | {
    "stream": True,
    "stream_options": {"include_usage": True},
}
EXPECTED_STREAM = b"".join(stream_frames())
KEY_NOTE = "bench proxy key"

ADD_LLM_API_KEY = (
    "mutation($i: AddLlmApiKeyInput!){ addLlmApiKey(input:$i){ llmApiKey{ id } "
    "userErrors{ message } } }"
)

DIRECT = "fake upstream, direct"
PROXIED = "via proxy, usage recording on"
PROXIED_RECORDED = "via proxy, usage recording on (alternating)"
PROXIED_UNRECORDED = "via proxy, usage recording off (alternating)"
STREAM_DIRECT = "stream, time to first chunk: direct"
STREAM_PROXIED = "stream, time to first chunk: via proxy"


def run(options: RunOptions) -> ScenarioResult:
    wrk = ensure_wrk()
    # The provider key the proxy is given; the fakes count the requests that carry it.
    provider_secret = f"sk-bench-{secrets.token_hex(16)}"
    with (
        tempfile.TemporaryDirectory(prefix="traylinx-bench-") as workdir_name,
        upstream_process(Path(workdir_name) / "fake", marker=provider_secret) as fake,
        upstream_process(Path(workdir_name) / "fake-off", marker=provider_secret) as fake_off,
    ):
        workdir = Path(workdir_name)
        with (
            deployed(options, fake, provider_secret, workdir / "on", usage=True) as on,
            deployed(options, fake_off, provider_secret, workdir / "off", usage=False) as off,
        ):
            measurements = measure_proxied(wrk, options, on)
            comparison = compare_recording(wrk, options, on, off)
            warnings, notes = server_remarks(on.service, measurements + comparison.measurements)
            off_warnings, off_notes = server_remarks(off.service, comparison.measurements)
        warnings += off_warnings + usage_warnings(on, off) + fake.remarks() + fake_off.remarks()
        notes += off_notes
    measurements = with_ratios_to_direct(measurements + comparison.measurements)
    stream_samples, stream_warmup = stream_counts(options)
    return ScenarioResult(
        measurements=measurements,
        ratio_label="vs direct",
        facts={
            "upstream": f"fake OpenAI API in its own process (bench/fake_upstream.py: "
            f"asyncio.Protocol on {loop_name()}, pre-built answers): a "
            f"{len(json.dumps(COMPLETION, separators=(',', ':')))} B chat.completion, or "
            f"{len(stream_frames())} SSE frames with a {STREAM_GAP_S * 1000:g} ms gap after "
            "the first",
            "proxy": f"POST {COMPLETIONS_PATH} {json.dumps(REQUEST, separators=(',', ':'))} "
            "with a project key; one OpenAI provider key in the project; one uvicorn worker; "
            "TRAYLINX_UPSTREAM_MAX_CONNECTIONS at its default",
            "stream": f"one client on one keep-alive connection (asyncio streams on "
            f"{loop_name()}), {stream_samples} streams after {stream_warmup} warm-up ones"
            + (" (--quick)" if options.quick else "")
            + "; p50/p99: time to the first chunk; req/s: whole streams per second",
            "usage": f"recording on: {on.describe_usage()}; recording off: {off.describe_usage()}",
            "alternating": f"{comparison.rounds} rounds of {ROUND_S} s runs at "
            f"c={GOAL_CONNECTIONS}, services with "
            "usage recording on and off running side by side, the order flipping each round, "
            f"a {SETTLE_S:g} s pause after each run; both services flush usage every "
            f"{COMPARED_FLUSH_S:g} s, so a run's deferred writes land in it or in the pause after "
            "it; "
            "rows: all rounds together (p50/p99: medians of the rounds')",
            "load": wrk_description(wrk),
        },
        warnings=warnings,
        notes=[
            "vs direct: throughput relative to the fake upstream alone at the same connections "
            "(stream rows: whole streams per second)",
            *goal_notes(measurements),
            recording_note(comparison),
            *notes,
        ],
    )


def stream_counts(options: RunOptions) -> tuple[int, int]:
    if options.quick:
        return QUICK_STREAM_SAMPLES, QUICK_STREAM_WARMUP
    return STREAM_SAMPLES, STREAM_WARMUP


# --- The fake upstream -------------------------------------------------------------------------


@dataclass(frozen=True)
class UpstreamProcess:
    base_url: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def forwarded(self) -> int:
        """Completions received with the proxy's provider key, i.e. through the proxy."""
        response = httpx.get(self.base_url + "/stats", timeout=5.0)
        marked = response.json().get("marked") if response.status_code == 200 else None
        if not isinstance(marked, int):
            raise HarnessError(f"the fake upstream's /stats answered {response.text[:200]!r}")
        return marked

    def remarks(self) -> list[str]:
        """Warnings about the fake itself: it died, or it logged anything at all."""
        warnings = []
        if self.process.poll() is not None:
            warnings.append(f"the fake upstream exited early with status {self.process.returncode}")
        logged = self.log_path.read_text(errors="replace").strip()
        if logged:
            warnings.append(f"the fake upstream logged: {logged.splitlines()[-1]!r}")
        return warnings


@contextlib.contextmanager
def upstream_process(workdir: Path, *, marker: str) -> Iterator[UpstreamProcess]:
    """`python -m bench.fake_upstream` on a free loopback port until the block ends."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "fake-upstream.log"
    command = [sys.executable, "-m", "bench.fake_upstream", "--port", str(port)]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [*command, "--marker", marker],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    fake = UpstreamProcess(f"http://{LOOPBACK}:{port}", log_path, process)
    try:
        wait_until_answering(fake)
        progress(f"fake upstream up at {fake.base_url}")
        yield fake
    finally:
        stop_process(process)


def wait_until_answering(fake: UpstreamProcess) -> None:
    deadline = time.monotonic() + FAKE_STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if fake.process.poll() is not None:
            raise HarnessError(
                f"the fake upstream exited with status {fake.process.returncode}; its log ends "
                f"with:\n{log_tail(fake.log_path)}"
            )
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(fake.base_url + "/stats", timeout=1.0).status_code == 200:
                return
        time.sleep(0.05)
    raise HarnessError(f"the fake upstream did not answer within {FAKE_STARTUP_TIMEOUT_S:.0f} s")


# --- The service and what it wrote ------------------------------------------------------------


@dataclass(frozen=True)
class UsageCheck:
    """Rows in `usage_events` once the service had stopped, against the requests it forwarded."""

    rows: int
    ok_rows: int
    forwarded: int

    def describe(self) -> str:
        return (
            f"{self.rows:,} rows in usage_events after shutdown ({self.ok_rows:,} with status "
            f"200) for {self.forwarded:,} requests forwarded to the upstream"
        )


def proxy_settings(fake: UpstreamProcess, *, usage: bool) -> dict[str, str]:
    return {
        "TRAYLINX_OPENAI_BASE_URL": f"{fake.base_url}/v1",
        "TRAYLINX_USAGE_ENABLED": "true" if usage else "false",
        **comparison_settings(),
    }


@dataclass
class Deployment:
    """A running service with a project set up, and (once stopped) what it left in its database."""

    service: RunningService
    case: HttpCase
    fake: UpstreamProcess
    usage: UsageCheck | None = None

    def describe_usage(self) -> str:
        return self.usage.describe() if self.usage else "not counted"


@contextlib.contextmanager
def deployed(
    options: RunOptions,
    fake: UpstreamProcess,
    provider_secret: str,
    workdir: Path,
    *,
    usage: bool,
    workers: int = 1,
) -> Iterator[Deployment]:
    """A fresh database and service pointed at `fake`; usage rows counted after it stops."""
    workdir.mkdir()
    label = PROXIED if usage else PROXIED_UNRECORDED
    settings = proxy_settings(fake, usage=usage)
    with provisioned_database(options.database, workdir) as database_url:
        with server_process(database_url, workdir, settings, workers=workers) as service:
            project_key = set_up_project(service, provider_secret)
            case = HttpCase.json_post(
                label, COMPLETIONS_PATH, REQUEST, expect_json=COMPLETION, token=project_key
            )
            preflight(case, service.base_url)
            deployment = Deployment(service, case, fake)
            yield deployment
        # The service has stopped, and written what it still had queued on its way out.
        deployment.usage = count_usage(database_url, fake.forwarded())
    progress(f"usage recording {'on' if usage else 'off'}: {deployment.describe_usage()}")


def measure_proxied(wrk: str, options: RunOptions, on: Deployment) -> list[Measurement]:
    """Direct and proxied at each concurrency, back to back, then the streams."""
    direct = HttpCase.json_post(
        DIRECT,
        COMPLETIONS_PATH,
        REQUEST,
        expect_json=COMPLETION,
        # A provider key of the same shape, but not the one the fake counts.
        token=f"sk-direct-{secrets.token_hex(16)}",
        base_url=on.fake.base_url,
    )
    preflight(direct, on.service.base_url)
    measurements = [
        measure(
            wrk,
            case,
            on.service,
            connections=connections,
            duration_s=options.duration_s,
            warmup_s=options.warmup_s,
        )
        for connections in CONCURRENCY_LEVELS
        # Direct first, then through the proxy: each pair runs back to back.
        for case in (direct, on.case)
    ]
    measurements += measure_streams(
        options,
        [
            (STREAM_DIRECT, direct.url(on.service.base_url), dict(direct.headers)),
            (STREAM_PROXIED, on.case.url(on.service.base_url), dict(on.case.headers)),
        ],
        on.service,
    )
    return measurements


def compare_recording(
    wrk: str, options: RunOptions, on: Deployment, off: Deployment
) -> Alternation:
    return alternate(
        wrk,
        (replace(on.case, label=PROXIED_RECORDED), on.service),
        (replace(off.case, label=PROXIED_UNRECORDED), off.service),
        rounds=QUICK_ROUNDS if options.quick else ROUNDS,
        connections=GOAL_CONNECTIONS,
        warmup_s=options.warmup_s,
    )


def recording_note(comparison: Alternation) -> str:
    return (
        f"goal: throughput with usage recording / without at c={GOAL_CONNECTIONS}, "
        f"{comparison.median_note(USAGE_GOAL)}: "
        f"{verdict(comparison.median_ratio >= USAGE_GOAL)}; {comparison.cpu_note()}"
    )


def usage_warnings(on: Deployment, off: Deployment) -> list[str]:
    warnings = []
    if on.usage is not None and on.usage.ok_rows != on.usage.forwarded:
        warnings.append(
            f"usage recording on: {on.usage.ok_rows:,} usage rows with status 200 for "
            f"{on.usage.forwarded:,} proxied requests; the recorder lost or invented some"
        )
    if off.usage is not None and off.usage.rows:
        warnings.append(
            f"usage recording off: the service still wrote {off.usage.rows:,} usage rows, so "
            "the comparison does not measure what recording costs"
        )
    return warnings


def project_with_provider(
    service: RunningService, provider_secret: str, name: str
) -> tuple[str, str]:
    """A signed-up user's access token and a new project of theirs with an OpenAI provider key,
    made the way a client makes them."""
    token = sign_up(service)
    progress("creating a project and its OpenAI provider key")
    project = mutation_payload(service, CREATE_PROJECT, {"name": name}, token, "createProject")
    project_id: str = project["project"]["id"]
    mutation_payload(
        service,
        ADD_LLM_API_KEY,
        {"projectId": project_id, "provider": "OPENAI", "secretKey": provider_secret},
        token,
        "addLlmApiKey",
    )
    return token, project_id


def set_up_project(service: RunningService, provider_secret: str) -> str:
    """A project key for a project with an OpenAI provider key."""
    token, project_id = project_with_provider(service, provider_secret, "Bench proxy project")
    created = mutation_payload(
        service, CREATE_API_KEY, {"projectId": project_id, "note": KEY_NOTE}, token, "createApiKey"
    )
    secret = created.get("secret")
    if not isinstance(secret, str):
        raise HarnessError(f"createApiKey returned no secret: {created}")
    return secret


def count_usage(database_url: str, forwarded: int) -> UsageCheck:
    query = "SELECT count(*), count(*) FILTER (WHERE status = 200) FROM usage_events"
    if database_url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as conn:
            rows, ok_rows = conn.execute(query).fetchone()
    else:
        rows, ok_rows = asyncio.run(_postgres_counts(database_url, query))
    return UsageCheck(rows=rows, ok_rows=ok_rows, forwarded=forwarded)


async def _postgres_counts(database_url: str, query: str) -> tuple[int, int]:
    import asyncpg

    connection = await asyncpg.connect(database_url, timeout=5)
    try:
        record = await connection.fetchrow(query)
    finally:
        await connection.close()
    return int(record[0]), int(record[1])


# --- Time to first chunk -----------------------------------------------------------------------


@dataclass(frozen=True)
class StreamRun:
    first_chunk_ns: list[int]
    elapsed_s: float
    wrong: int
    first_problem: str | None = None


def measure_streams(
    options: RunOptions,
    targets: list[tuple[str, str, dict[str, str]]],
    service: RunningService,
) -> list[Measurement]:
    """For each (label, url, headers): warm-up streams, then the timed ones, one at a time."""
    samples, warmup = stream_counts(options)
    body = json.dumps(STREAM_REQUEST, separators=(",", ":")).encode()
    measurements = []
    for label, url, headers in targets:
        progress(f"{label}: {warmup} warm-up streams, {samples} timed")
        errors_before = len(service.logged_errors())
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            warm = runner.run(stream_one_by_one(url, headers, body, warmup))
            timed = runner.run(stream_one_by_one(url, headers, body, samples))
        service.wait_for_quiet_log()
        if not timed.first_chunk_ns:
            raise HarnessError(f"{label}: no stream came back right; first: {timed.first_problem}")
        ordered = sorted(timed.first_chunk_ns)
        measurements.append(
            Measurement(
                label=label,
                connections=1,
                requests=samples,
                duration_s=round(timed.elapsed_s, 3),
                rps=round(samples / timed.elapsed_s, 1) if timed.elapsed_s else 0.0,
                p50_ms=round(percentile(ordered, 0.50) / 1e6, 3),
                p99_ms=round(percentile(ordered, 0.99) / 1e6, 3),
                server_errors=len(service.logged_errors()) - errors_before,
                wrong_results=timed.wrong,
                warmup_failures=warm.wrong,
            )
        )
    return measurements


async def stream_one_by_one(
    url: str, headers: Mapping[str, str], body: bytes, count: int
) -> StreamRun:
    """`count` streamed completions in turn on one keep-alive connection (a new one after a
    failure); a stream counts as wrong unless it is a 200 carrying exactly the fake's frames."""
    parts = urlsplit(url)
    host, port = parts.hostname or LOOPBACK, parts.port or 80
    head = [f"POST {parts.path} HTTP/1.1", f"Host: {host}:{port}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    head.append(f"Content-Length: {len(body)}")
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + body
    first_chunks: list[int] = []
    wrong = 0
    first_problem: str | None = None
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    started = time.perf_counter()
    try:
        for _ in range(count):
            if connection is None:
                connection = await asyncio.open_connection(host, port)
            reader, writer = connection
            try:
                async with asyncio.timeout(STREAM_TIMEOUT_S):
                    first_chunk_ns, correct = await one_stream(reader, writer, request)
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as error:
                wrong += 1
                first_problem = first_problem or f"{type(error).__name__}: {error}"
                writer.close()
                connection = None
                continue
            if correct:
                first_chunks.append(first_chunk_ns)
            else:
                wrong += 1
                first_problem = first_problem or "the events differed from the fake's"
    finally:
        if connection is not None:
            connection[1].close()
    return StreamRun(first_chunks, time.perf_counter() - started, wrong, first_problem)


async def one_stream(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bool]:
    """Send one request and read its chunked event stream to the end.

    Returns the nanoseconds from writing the request to having read the first chunk of the body
    (the first event), and whether the whole answer was the expected one.
    """
    sent = time.perf_counter_ns()
    writer.write(request)
    head = (await reader.readuntil(b"\r\n\r\n")).lower()
    correct = (
        head.startswith(b"http/1.1 200 ")
        and b"\r\ncontent-type: text/event-stream" in head
        and b"\r\ntransfer-encoding: chunked" in head
    )
    if not correct:
        raise ValueError(f"not a chunked event stream: {head[:200]!r}")
    received = bytearray()
    first_chunk_ns = 0
    while True:
        size = int((await reader.readline()).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # the end of the (empty) trailer
            break
        received += (await reader.readexactly(size + 2))[:-2]
        if not first_chunk_ns:
            first_chunk_ns = time.perf_counter_ns() - sent
    return first_chunk_ns, bytes(received) == EXPECTED_STREAM


# --- The verdicts ------------------------------------------------------------------------------


def with_ratios_to_direct(measurements: list[Measurement]) -> list[Measurement]:
    """Each proxied row's throughput relative to its direct counterpart."""
    direct = {m.connections: m for m in measurements if m.label == DIRECT}
    stream_direct = next((m for m in measurements if m.label == STREAM_DIRECT), None)
    rated = []
    for m in measurements:
        base = stream_direct if m.label == STREAM_PROXIED else direct.get(m.connections)
        if m.label in _PROXIED_LABELS and base and base.rps > 0:
            m = replace(m, ratio=round(m.rps / base.rps, 3))
        rated.append(m)
    return rated


_PROXIED_LABELS = (PROXIED, PROXIED_RECORDED, PROXIED_UNRECORDED, STREAM_PROXIED)


def find(measurements: list[Measurement], label: str, connections: int) -> Measurement | None:
    return next(
        (m for m in measurements if m.label == label and m.connections == connections), None
    )


def goal_notes(measurements: list[Measurement]) -> list[str]:
    notes = []
    for connections in CONCURRENCY_LEVELS:
        direct = find(measurements, DIRECT, connections)
        proxied = find(measurements, PROXIED, connections)
        if direct is None or proxied is None or not direct.rps:
            continue
        overhead = proxied.p50_ms - direct.p50_ms
        line = (
            f"overhead at c={connections}: p50 {proxied.p50_ms:.3f} - {direct.p50_ms:.3f} = "
            f"{overhead:.3f} ms (p99 {proxied.p99_ms - direct.p99_ms:+.3f} ms); throughput "
            f"{proxied.rps:,.0f} / {direct.rps:,.0f} = {proxied.rps / direct.rps:.3f} of direct"
        )
        if connections == 1:
            line = (
                f"goal: {line} (target p50 overhead <= {OVERHEAD_GOAL_MS} ms): "
                f"{verdict(overhead <= OVERHEAD_GOAL_MS)}"
            )
        notes.append(line)
    proxied = find(measurements, PROXIED, GOAL_CONNECTIONS)
    if proxied is not None:
        notes.append(
            f"goal: proxied throughput at c={GOAL_CONNECTIONS} = {proxied.rps:,.0f} req/s "
            f"(target >= {THROUGHPUT_GOAL_RPS:,}): {verdict(proxied.rps >= THROUGHPUT_GOAL_RPS)}"
        )
    stream_direct = find(measurements, STREAM_DIRECT, 1)
    stream_proxied = find(measurements, STREAM_PROXIED, 1)
    if stream_direct is not None and stream_proxied is not None:
        overhead = stream_proxied.p50_ms - stream_direct.p50_ms
        notes.append(
            f"goal: time to first chunk, p50 {stream_proxied.p50_ms:.3f} - "
            f"{stream_direct.p50_ms:.3f} = {overhead:.3f} ms added by the proxy (p99 "
            f"{stream_proxied.p99_ms - stream_direct.p99_ms:+.3f} ms; target p50 <= "
            f"{FIRST_CHUNK_GOAL_MS} ms): {verdict(overhead <= FIRST_CHUNK_GOAL_MS)}"
        )
    return notes


SCENARIO = Scenario(
    name="proxy",
    title="LLM proxy overhead",
    summary="POST /v1/chat/completions direct to a fake upstream vs through the proxy, time to "
    "first streamed chunk, and usage recording on vs off",
    run=run,
)
