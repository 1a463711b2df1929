"""Usage recording and reporting: what a record costs on the request path, how fast the ingest
writes, and how long the usage charts take to read once a month of traffic is stored.

In process, on a database prepared by the app's own migrations, with the app's own pieces wired as
app/services.py wires them:

1. Ingest: 1,000,000 usage records (100,000 under --quick, labelled) of one project with 1,000
   keys, over 30 simulated days, handed to `UsageRecorder.record()` - the request path's share,
   timed in blocks of 1,000 calls - and written by `flush()` through the service's usage writer
   (`ProcessWriter`: a child process running the real `UsageIngest`) in the recorder's default
   batches, one transaction each: raw events, hourly aggregates, client addresses and alerts.
   The records are fed in chunks of 100,000 (record them all, then flush) so memory stays
   bounded; `max_pending` holds a whole chunk, so nothing may be dropped. Afterwards
   `usage_hourly` must sum to exactly the records fed.
2. Reads: `UsageService.series()` for the 30 days by HOUR for the busiest key, and by DAY for the
   whole project (all 1,000 keys), a few warm-up calls and then 20 timed calls each. Each answer is
   checked against the counts the generator handed over.

The traffic is synthetic but shaped like a real project's: key traffic follows Zipf's law (the
busiest key gets ~13% of requests, the quietest a few a day); a day/night cycle and quieter
weekends; 1-4 client addresses per key (most requests from the first); ~95% status 200, the rest
4xx, 429, 5xx and upstream failures; LLM token counts on successful LLM calls; 0.1% wrong secrets;
and a handful of tail keys revoked halfway through the month and still presented afterwards.
"""

from __future__ import annotations

import gc
import itertools
import math
import random
import sqlite3
import string
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from app import db
from app.api_keys.service import ApiKeyService
from app.api_keys.tables import ApiKey as ApiKeyRow
from app.audit.service import AuditService
from app.clock import SystemClock
from app.projects.access import AccessControl, ProjectAccess, ProjectRecord, Role
from app.projects.tables import Project
from app.security import tokens
from app.security.principal import Principal
from app.settings import MonitoringConfig
from app.usage.recorder import BatchOutcome, UsageRecord, UsageRecorder
from app.usage.service import Granularity, UsageService
from app.usage.tables import KeyClientIp, SecurityAlert, UsageEvent, UsageHourly
from app.usage.writer import ProcessWriter, WriterConfig
from app.webhooks.events import Outbox
from bench.harness import HarnessError, progress, provisioned_database
from bench.model import Measurement, RunOptions, Scenario, ScenarioResult
from bench.scenarios.api_keys import (
    CallRun,
    activate_database,
    loop_name,
    on_server_loop,
    pooled,
)

RECORD_COUNT = 1_000_000
# Labelled wherever it is used: a smoke test, not the headline number.
QUICK_RECORD_COUNT = 100_000
KEY_COUNT = 1_000
DAYS = 30
# Records handed to record() before each flush(); also the recorder's max_pending.
CHUNK_SIZE = 100_000
# record() calls timed together: a timer per call would cost about as much as the call.
BLOCK_SIZE = 1_000
QUERY_WARMUP_RUNS = 3
QUERY_RUNS = 20
SEED = 20_261_127

# Traffic shape.
ZIPF_EXPONENT = 1.0
DAY_NIGHT_SWING = 0.5  # hourly rate from 0.5x (night) to 1.5x (afternoon, UTC)
WEEKEND_FACTOR = 0.6
BAD_SECRET_SHARE = 0.001
REVOKED_KEYS = 10  # the quietest keys, revoked halfway through and still presented
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
# Addresses per key: the first carries most traffic, others appear now and then.
ADDRESS_WEIGHTS = (0.85, 0.10, 0.04, 0.01)


@dataclass(frozen=True)
class CallProfile:
    provider: str | None
    model: str | None
    endpoint: str
    # Medians of the lognormal latency and token counts; None: no tokens (GraphQL).
    latency_ms: float
    input_tokens: float | None
    output_tokens: float | None


# What a key is used for, and how many keys are used that way.
PROFILES: tuple[tuple[CallProfile, float], ...] = (
    (CallProfile("openai", "gpt-4o-mini", "/v1/chat/completions", 900, 600, 250), 0.50),
    (CallProfile("anthropic", "claude-3-5-haiku-latest", "/v1/messages", 1200, 800, 300), 0.30),
    (CallProfile("openai", "text-embedding-3-small", "/v1/embeddings", 120, 300, 0), 0.15),
    (CallProfile(None, None, "/graphql", 8, None, None), 0.05),
)
# Cumulative shares of the statuses of requests that passed authentication.
STATUSES: tuple[tuple[float, int, bool], ...] = (
    # (up to this share, status, upstream_failed)
    (0.950, 200, False),
    (0.960, 400, False),
    (0.970, 404, False),
    (0.985, 429, False),
    (0.992, 500, False),
    (0.995, 503, False),
    (0.998, 502, True),
    (1.000, 504, True),
)


def run(options: RunOptions) -> ScenarioResult:
    count = QUICK_RECORD_COUNT if options.quick else RECORD_COUNT
    return measure(options, count)


def measure(options: RunOptions, record_count: int) -> ScenarioResult:
    """The whole scenario with `record_count` records, on a throwaway database."""
    with (
        tempfile.TemporaryDirectory(prefix="traylinx-bench-") as workdir,
        provisioned_database(options.database, Path(workdir)) as database_url,
    ):
        engine = activate_database(database_url)
        outcome = on_server_loop(ingest_then_read(engine, database_url, options, record_count))
    return scenario_result(options, outcome)


# --- The traffic -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    profile: CallProfile
    addresses: tuple[str, ...]
    revoked_at: datetime | None


@dataclass
class Traffic:
    """A month of one project's requests, generated lazily and in time order."""

    record_count: int
    project_id: uuid.UUID
    start: datetime
    keys: list[ApiKey]
    key_weights: list[float]
    expected: Counter[str] = field(default_factory=Counter)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=DAYS)

    @classmethod
    def build(cls, record_count: int, rng: random.Random) -> Traffic:
        # Whole days up to the last midnight (UTC), so that the month is 30 day buckets.
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = today - timedelta(days=DAYS)
        profiles = [profile for profile, _ in PROFILES]
        shares = [share for _, share in PROFILES]
        keys: list[ApiKey] = []
        for index in range(KEY_COUNT):
            revoked = index >= KEY_COUNT - REVOKED_KEYS
            keys.append(
                ApiKey(
                    # From the seeded generator, so that a run's traffic can be repeated.
                    key_id="".join(rng.choices(BASE62, k=tokens.KEY_ID_LENGTH)),
                    profile=rng.choices(profiles, weights=shares)[0],
                    addresses=tuple(address(index, n) for n in range(1 + index % 4)),
                    revoked_at=start + timedelta(days=DAYS / 2) if revoked else None,
                )
            )
        return cls(
            record_count=record_count,
            project_id=uuid.uuid4(),
            start=start,
            keys=keys,
            key_weights=[1 / (rank + 1) ** ZIPF_EXPONENT for rank in range(KEY_COUNT)],
        )

    def records(self, rng: random.Random) -> Iterator[UsageRecord]:
        """Every record in time order; `expected` counts them per key as they are made."""
        cumulative = list(itertools.accumulate(self.key_weights))
        for hour, count in enumerate(hourly_counts(self.record_count, self.start)):
            hour_start = self.start + timedelta(hours=hour)
            chosen = rng.choices(self.keys, cum_weights=cumulative, k=count)
            for n, key in enumerate(chosen):
                at = hour_start + timedelta(seconds=(n + rng.random()) * 3600 / count)
                self.expected[key.key_id] += 1
                yield self.request(key, at, rng)

    def request(self, key: ApiKey, at: datetime, rng: random.Random) -> UsageRecord:
        ip = rng.choices(key.addresses, weights=ADDRESS_WEIGHTS[: len(key.addresses)])[0]
        refusal = "bad_secret" if rng.random() < BAD_SECRET_SHARE else None
        if key.revoked_at is not None and at >= key.revoked_at:
            refusal = "revoked"
        if refusal is not None:
            # As the authenticator records a refused key (app/api_keys/verifier.py).
            return UsageRecord(
                project_id=self.project_id,
                api_key_id=key.key_id,
                endpoint="(authentication)",
                status=401,
                latency_ms=0,
                at=at,
                client_ip=ip,
                auth_failure=refusal,
            )
        profile = key.profile
        share = rng.random()
        status, upstream_failed = next((s, u) for limit, s, u in STATUSES if share < limit)
        succeeded = status == 200
        return UsageRecord(
            project_id=self.project_id,
            api_key_id=key.key_id,
            endpoint=profile.endpoint,
            status=status,
            latency_ms=int(rng.lognormvariate(math.log(profile.latency_ms), 0.6)),
            at=at,
            provider=profile.provider,
            model=profile.model,
            input_tokens=tokens_around(profile.input_tokens, rng) if succeeded else None,
            output_tokens=tokens_around(profile.output_tokens, rng) if succeeded else None,
            client_ip=ip,
            upstream_failed=upstream_failed,
        )


def address(key_index: int, n: int) -> str:
    """The n-th client address of a key: IPv4 mostly, IPv6 for every fifth key."""
    if key_index % 5 == 4:
        return f"2001:db8:{key_index:x}::{n + 1:x}"
    return f"10.{key_index // 250}.{key_index % 250}.{n + 1}"


def tokens_around(median: float | None, rng: random.Random) -> int | None:
    if median is None:
        return None
    if median == 0:
        return 0
    return max(1, int(rng.lognormvariate(math.log(median), 0.8)))


def hourly_counts(total: int, start: datetime) -> list[int]:
    """`total` records over DAYS * 24 hours, by a day/night cycle and quieter weekends."""
    weights = []
    for hour in range(DAYS * 24):
        instant = start + timedelta(hours=hour)
        cycle = 1 + DAY_NIGHT_SWING * math.sin(2 * math.pi * (instant.hour - 9) / 24)
        weights.append(cycle * (WEEKEND_FACTOR if instant.weekday() >= 5 else 1.0))
    scale = total / sum(weights)
    counts = [math.floor(weight * scale) for weight in weights]
    # Largest remainders, so the counts add up exactly.
    by_remainder = sorted(
        range(len(weights)), key=lambda h: weights[h] * scale - counts[h], reverse=True
    )
    for hour in by_remainder[: total - sum(counts)]:
        counts[hour] += 1
    return counts


# --- 1. Ingest ---------------------------------------------------------------------------------


@dataclass
class IngestTimes:
    record_count: int = 0
    record_ns: int = 0
    # Mean ns per record() call in each block of BLOCK_SIZE calls.
    block_ns_per_record: list[float] = field(default_factory=list)
    flush_s: float = 0.0
    batch_ms: list[float] = field(default_factory=list)
    generate_s: float = 0.0


@dataclass(frozen=True)
class Stored:
    events: int
    hourly_rows: int
    hourly_requests: int
    addresses: int
    alerts: dict[str, int]


@dataclass(frozen=True)
class UsageRun:
    traffic: Traffic
    batch_size: int
    migrate_s: float
    ingest: IngestTimes
    dropped: int
    stored: Stored
    settle_s: float
    settle_what: str
    queries: list[Measurement]


async def ingest_then_read(
    engine: Engine[Any], database_url: str, options: RunOptions, record_count: int
) -> UsageRun:
    started = time.perf_counter()
    await db.start()
    migrate_s = time.perf_counter() - started
    try:
        rng = random.Random(SEED)
        traffic = Traffic.build(record_count, rng)
        writer = ProcessWriter(WriterConfig(database_url, log_level="WARNING"))
        times = IngestTimes()

        async def timed_sink(batch: Sequence[UsageRecord]) -> BatchOutcome:
            before = time.perf_counter_ns()
            outcome = await writer(batch)
            times.batch_ms.append((time.perf_counter_ns() - before) / 1e6)
            return outcome

        recorder = UsageRecorder(timed_sink, max_pending=CHUNK_SIZE)
        try:
            await feed(recorder, traffic, rng, times)
        finally:
            await writer.close()
        stored = await stored_totals()
        settled_at = time.perf_counter()
        settle_what = await settle(engine)
        settle_s = time.perf_counter() - settled_at
        queries = await measure_queries(traffic, options)
    finally:
        await db.stop()
    return UsageRun(
        traffic=traffic,
        batch_size=recorder.batch_size,
        migrate_s=migrate_s,
        ingest=times,
        dropped=recorder.dropped,
        stored=stored,
        settle_s=settle_s,
        settle_what=settle_what,
        queries=queries,
    )


async def feed(
    recorder: UsageRecorder, traffic: Traffic, rng: random.Random, times: IngestTimes
) -> None:
    """Chunk by chunk: generate, record() every record (timed in blocks), then flush()."""
    records = traffic.records(rng)
    while True:
        generated_at = time.perf_counter()
        chunk = list(itertools.islice(records, CHUNK_SIZE))
        times.generate_s += time.perf_counter() - generated_at
        if not chunk:
            break
        # The setup's garbage should not be collected on record()'s clock.
        gc.collect()
        for start in range(0, len(chunk), BLOCK_SIZE):
            block = chunk[start : start + BLOCK_SIZE]
            before = time.perf_counter_ns()
            for record in block:
                recorder.record(record)
            elapsed = time.perf_counter_ns() - before
            times.record_ns += elapsed
            times.block_ns_per_record.append(elapsed / len(block))
        times.record_count += len(chunk)
        del chunk, block  # the recorder holds the records until they are written
        flushed_at = time.perf_counter()
        written = await recorder.flush()
        times.flush_s += time.perf_counter() - flushed_at
        if recorder.queue_depth:
            raise HarnessError(f"flush() left {recorder.queue_depth} records queued")
        progress(
            f"ingest: {times.record_count:,}/{traffic.record_count:,} records written "
            f"({written:,} this chunk), {times.record_count / times.flush_s:,.0f} records/s "
            "so far"
        )


async def stored_totals() -> Stored:
    hourly = await UsageHourly.raw(
        "SELECT COUNT(*) AS row_count, SUM(requests) AS requests FROM usage_hourly"
    )
    alerts = await SecurityAlert.raw(
        "SELECT kind, COUNT(*) AS alert_count FROM security_alerts GROUP BY kind"
    )
    return Stored(
        events=await UsageEvent.count(),
        hourly_rows=int(hourly[0]["row_count"]),
        hourly_requests=int(hourly[0]["requests"] or 0),
        addresses=await KeyClientIp.count(),
        alerts={row["kind"]: int(row["alert_count"]) for row in alerts},
    )


async def settle(engine: Engine[Any]) -> str:
    """Bring the tables to the state a long-lived service's are in before reading them."""
    if isinstance(engine, SQLiteEngine):
        # A month of writes in one go may leave a large WAL behind; a running service's is small.
        connection = sqlite3.connect(engine.path)
        try:
            busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            connection.close()
        if busy:
            raise HarnessError("SQLite could not checkpoint the WAL after the ingest (busy)")
        return "WAL checkpoint"
    if isinstance(engine, PostgresEngine):
        # Autovacuum would get to fresh rows eventually; it should not do so mid-measurement.
        connection = await asyncpg.connect(**engine.config)
        try:
            await connection.execute("VACUUM ANALYZE usage_hourly")
        finally:
            await connection.close()
        return "VACUUM ANALYZE usage_hourly"
    raise HarnessError(f"no settle step for {type(engine).__name__}")


# --- 2. Reads ----------------------------------------------------------------------------------


async def measure_queries(traffic: Traffic, options: RunOptions) -> list[Measurement]:
    busiest, busiest_count = traffic.expected.most_common(1)[0]
    service, access = await _reader_of(traffic, busiest)
    quick = " (--quick)" if options.quick else ""
    cases = [
        (
            f"series: {DAYS} days by HOUR, busiest key ({busiest_count:,} records){quick}",
            Granularity.HOUR,
            busiest,
            busiest_count,
            DAYS * 24,
        ),
        (
            f"series: {DAYS} days by DAY, whole project ({KEY_COUNT:,} keys){quick}",
            Granularity.DAY,
            None,
            traffic.record_count,
            DAYS,
        ),
    ]
    measurements = []
    for label, granularity, key_id, expected_requests, expected_points in cases:
        call = series_check(
            service,
            access,
            traffic,
            granularity,
            key_id,
            requests=expected_requests,
            points=expected_points,
        )
        progress(f"{label}: {QUERY_WARMUP_RUNS} warm-up calls, {QUERY_RUNS} timed")
        warmup = await run_queries(call, QUERY_WARMUP_RUNS)
        gc.collect()
        timed = await run_queries(call, QUERY_RUNS)
        measurements.append(replace(pooled(label, [timed]), warmup_failures=warmup.wrong))
    return measurements


async def _reader_of(traffic: Traffic, key_id: str) -> tuple[UsageService, Principal]:
    """The usage reader, and an owner of the bench's project: the project and the key the
    per-key series asks for exist as rows (the reader checks both), the other keys as usage."""
    access_control = AccessControl()
    audit = AuditService(SystemClock(), access_control)
    api_keys = ApiKeyService(
        clock=SystemClock(),
        access=access_control,
        audit=audit,
        models=_no_models,
        outbox=Outbox(),
    )
    async with db.transaction():
        await Project.insert(
            Project(id=traffic.project_id, name="Bench project", created_at=traffic.start)
        )
        await ApiKeyRow.insert(
            ApiKeyRow(
                id=key_id,
                project=traffic.project_id,
                note="busiest",
                start=tokens.key_start(key_id),
                secret_digest="0" * 64,
                created_at=traffic.start,
            )
        )
    owner = Principal.user(uuid.uuid4())
    # The owner's standing, as a request would have read it (no membership row is needed).
    owner.standing[traffic.project_id] = ProjectAccess(
        project=ProjectRecord(
            id=traffic.project_id, name="Bench project", created_at=traffic.start
        ),
        principal=owner,
        role=Role.OWNER,
    )
    service = UsageService(
        SystemClock(), MonitoringConfig(), access=access_control, api_keys=api_keys, audit=audit
    )
    return service, owner


async def _no_models(principal: Principal, project_id: uuid.UUID) -> list[str]:
    return []


def series_check(
    service: UsageService,
    owner: Principal,
    traffic: Traffic,
    granularity: Granularity,
    key_id: str | None,
    *,
    requests: int,
    points: int,
) -> Callable[[], Awaitable[bool]]:
    """One series() call; whether its points and totals account for exactly the records fed."""

    async def call() -> bool:
        series = await service.series(
            owner,
            traffic.project_id,
            start=traffic.start,
            end=traffic.end,
            granularity=granularity,
            api_key_id=key_id,
        )
        return (
            len(series.points) == points
            and series.totals.requests == requests
            and sum(point.requests for point in series.points) == requests
        )

    return call


async def run_queries(call: Callable[[], Awaitable[bool]], runs: int) -> CallRun:
    """One call at a time; the run's time is the calls' own, without the loop around them."""
    latencies: list[int] = []
    wrong = 0
    for _ in range(runs):
        before = time.perf_counter_ns()
        right: bool = await call()
        latencies.append(time.perf_counter_ns() - before)
        wrong += not right
    return CallRun(latencies_ns=latencies, elapsed_s=sum(latencies) / 1e9, wrong=wrong)


# --- The table ---------------------------------------------------------------------------------


def scenario_result(options: RunOptions, outcome: UsageRun) -> ScenarioResult:
    traffic, times, stored = outcome.traffic, outcome.ingest, outcome.stored
    count = traffic.record_count
    quick = " (--quick)" if options.quick else ""
    blocks = sorted(times.block_ns_per_record)
    batches = sorted(times.batch_ms)
    record_s = times.record_ns / 1e9
    record_row = Measurement(
        label=f"record(): hand {count:,} records to the recorder{quick}",
        connections=None,
        requests=times.record_count,
        duration_s=round(record_s, 3),
        rps=round(times.record_count / record_s, 1) if record_s else 0.0,
        p50_ms=round(percentile_float(blocks, 0.50) / 1e6, 6),
        p99_ms=round(percentile_float(blocks, 0.99) / 1e6, 6),
        wrong_results=outcome.dropped,
    )
    # Every record must be counted once in the hourly aggregates, and kept as a raw event.
    lost = abs(count - stored.hourly_requests) + abs(count - stored.events)
    flush_row = Measurement(
        label=f"flush(): write {count:,} records, batches of {outcome.batch_size:,}{quick}",
        connections=None,
        requests=times.record_count,
        duration_s=round(times.flush_s, 3),
        rps=round(times.record_count / times.flush_s, 1) if times.flush_s else 0.0,
        p50_ms=round(percentile_float(batches, 0.50), 5),
        p99_ms=round(percentile_float(batches, 0.99), 5),
        wrong_results=lost,
    )
    alerts = ", ".join(f"{n:,} {kind}" for kind, n in sorted(stored.alerts.items())) or "none"
    busiest_share = traffic.expected.most_common(1)[0][1] / count if count else 0.0
    notes = [
        f"record(): {times.record_ns / max(1, times.record_count):,.1f} ns per record on "
        f"average; p50/p99 are of the mean per call over blocks of {BLOCK_SIZE:,} calls "
        f"(p50 {percentile_float(blocks, 0.50):,.1f} ns, p99 "
        f"{percentile_float(blocks, 0.99):,.1f} ns); errors: records dropped "
        f"({outcome.dropped})",
        f"flush(): req/s is records written per second ({count / times.flush_s:,.0f}); p50/p99 "
        f"are per batch of {outcome.batch_size:,} records (one message to the usage writer "
        "process and one transaction there), "
        f"{len(batches):,} batches; errors: records missing from usage_hourly "
        f"({count - stored.hourly_requests}) or usage_events ({count - stored.events})",
        f"series rows: req/s is calls per second, one call at a time; p99 of {QUERY_RUNS} calls "
        "is their slowest; errors: answers whose points or totals did not match the records fed",
    ]
    if options.quick:
        notes.append(
            f"--quick: {QUICK_RECORD_COUNT:,} records, not {RECORD_COUNT:,}; a smoke test, not a "
            "headline number"
        )
    elif count != RECORD_COUNT:
        notes.append(f"run with {count:,} records, not the scenario's {RECORD_COUNT:,}")
    return ScenarioResult(
        measurements=[record_row, flush_row, *outcome.queries],
        latency_unit="us",
        facts={
            "traffic": f"{count:,} usage records of one project, {KEY_COUNT:,} keys (Zipf, the "
            f"busiest {busiest_share:.1%}), {DAYS} days to {traffic.end:%Y-%m-%d} 00:00 UTC "
            "with a day/night cycle; 1-4 addresses per key; ~95% status 200, 4xx/429/5xx/"
            f"upstream failures, {BAD_SECRET_SHARE:.1%} bad secrets, {REVOKED_KEYS} keys "
            "revoked mid-month",
            "recorder": f"UsageRecorder(ProcessWriter(WriterConfig(database)), max_pending="
            f"{CHUNK_SIZE:,}), its default batch size {outcome.batch_size:,} (the service's too): "
            "record() "
            f"{CHUNK_SIZE:,} records, then flush(), repeated",
            "stored": f"{stored.events:,} events, {stored.hourly_rows:,} hourly rows summing to "
            f"{stored.hourly_requests:,} requests, {stored.addresses:,} key addresses; alerts: "
            f"{alerts}",
            "setup": f"migrations {outcome.migrate_s:.1f} s; records generated in "
            f"{times.generate_s:.1f} s (untimed); {outcome.settle_what} {outcome.settle_s:.1f} s "
            "before the reads",
            "inproc": f"one coroutine on {loop_name()} (as uvicorn runs it)",
        },
        notes=notes,
    )


def percentile_float(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


SCENARIO = Scenario(
    name="usage",
    title="Usage recording and reporting",
    summary="record() and flush() of 1,000,000 usage records (1,000 keys, 30 days), then 30-day "
    "series by hour for a key and by day for the project",
    run=run,
)
