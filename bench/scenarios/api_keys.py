"""Project API key verification: what checking a key costs, and whether it grows with the table.

Three measurements in one table:

1. In process: `ApiKeyAuthenticator.authenticate()` of valid keys, wired as the service wires it
   (the app's own lookup, on a database prepared by the app's own migrations), in two databases:
   one with 10 keys in `api_keys`, one with 1,000,000, timed in alternating rounds so that both
   see the same machine. Verification is one primary-key read, so the table's size should barely
   matter: the goals are a median ratio of at most 1.2, and under 50 µs on SQLite.
2. In process: malformed keys (wrong prefix, bad checksum, wrong length, not base62, 10 KB of
   garbage) must be refused from their shape and checksum alone. The authenticator gets a lookup
   that fails the call if it is ever reached, so a refusal that needed the database counts as a
   wrong result rather than as a fast rejection.
3. Over HTTP: `{ viewer { __typename } }` with a project key against the same query sent
   anonymously (which answers 200 with `viewer: null` and an UNAUTHENTICATED error). The goal is
   at least 0.9 of the anonymous throughput at 32 connections, as the median ratio of ten rounds
   of two-second runs alternating between the two (see `bench.wrk.Alternation`); at 1
   connection one pair of runs, back to back.

The keys are inserted with raw SQL in bulk. The keys a run verifies are real ones from
`new_key_id()`/`new_project_key()`, spread evenly over the insertion order (and, their ids being
random, over the primary key index). The rest only fill the table and its index; they come from a
faster generator of the same format, because `secrets.choice()` per character would spend a minute
on a million keys.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import math
import os
import secrets
import sqlite3
import string
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

import asyncpg
import httpx
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from app import db
from app.api_keys.lookup import KeyLookup, StoredKey, open_key_lookup
from app.api_keys.verifier import ApiKeyAuthenticator, LastUseRecorder
from app.clock import SystemClock
from app.security import tokens
from app.security.guard import BearerRejected
from app.settings import DatabaseConfig
from bench.harness import (
    HarnessError,
    RunningService,
    progress,
    provisioned_database,
    running_service,
)
from bench.model import Measurement, RunOptions, Scenario, ScenarioResult
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

T = TypeVar("T")

SMALL_KEY_COUNT = 10
LARGE_KEY_COUNT = 1_000_000
# Labelled wherever it is used: a smoke test, not the headline number.
QUICK_LARGE_KEY_COUNT = 100_000
# Keys verified in turn against the large table: enough that the reads wander over the whole
# index instead of staying on a few hot pages.
SAMPLE_SIZE = 1_000
# In-process verification: rounds the timed calls are split into, taking turns between tables.
CALL_ROUNDS = 10
# Rows generated and sent per round trip; bounds the memory a million keys take.
BATCH_SIZE = 50_000
# Distinct inputs of each malformed kind, verified in turn.
MALFORMED_VARIANTS = 200
GARBAGE_LENGTH = 10 * 1024
CLIENT_IP = "127.0.0.1"
KEY_NOTE = "bench key"

RATIO_GOAL = 1.2
SQLITE_GOAL_US = 50.0
HTTP_GOAL = 0.9
HTTP_GOAL_CONNECTIONS = 32

VIEWER_QUERY = "{ viewer { __typename } }"
CREATE_PROJECT = (
    "mutation($i: CreateProjectInput!){ createProject(input:$i){ project{ id } "
    "userErrors{ message } } }"
)
CREATE_API_KEY = (
    "mutation($i: CreateApiKeyInput!){ createApiKey(input:$i){ secret apiKey{ id } "
    "userErrors{ message } } }"
)

# The columns a bulk insert fills; the others keep their defaults (all null).
KEY_COLUMNS = ("id", "project", "note", "start", "secret_digest", "created_at")
KeyRow = tuple[str, uuid.UUID, str, str, str, datetime]

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
# Random bytes below 4 * 62 = 248 map evenly onto base62; the other 8 values are dropped.
_EVEN_LIMIT = 4 * len(_BASE62)
_BYTE_TO_BASE62 = bytes(
    ord(_BASE62[value % len(_BASE62)]) if value < _EVEN_LIMIT else 0 for value in range(256)
)
_UNEVEN_BYTES = bytes(range(_EVEN_LIMIT, 256))
_FILLER_CHARS = tokens.KEY_ID_LENGTH + tokens.SECRET_LENGTH


def run(options: RunOptions) -> ScenarioResult:
    # Before the minute of setup: a missing wrk should fail the run at once.
    wrk = ensure_wrk()
    large_count = QUICK_LARGE_KEY_COUNT if options.quick else LARGE_KEY_COUNT
    verification = measure_verification(options, large_count)
    rejection = on_server_loop(measure_rejections(options))
    http = measure_http(wrk, options)
    return ScenarioResult(
        measurements=[
            verification.small,
            with_ratio(verification.large, verification.small),
            rejection,
            *http.measurements,
        ],
        ratio_label="ratio",
        latency_unit="us",
        facts={
            "keys": f"two databases, api_keys holding {SMALL_KEY_COUNT} keys in one and "
            f"{large_count:,} in the other (one project each); verified in alternating rounds: "
            f"all {SMALL_KEY_COUNT}, and {verification.sample_size:,} real "
            "keys spread over the table",
            "setup": f"migrations {verification.migrate_s:.1f} s; {verification.load.describe()}",
            "inproc": "one coroutine awaiting authenticate() back to back on "
            f"{loop_name()} (as uvicorn runs it), {verification.lookup_name}, SystemClock, "
            f"client IP {CLIENT_IP}",
            "alternating": f"at c={HTTP_GOAL_CONNECTIONS}, {http.alternation.rounds} rounds of "
            f"{ROUND_S} s runs, anonymous and with a project key, the order flipping each round, "
            f"a {SETTLE_S:g} s pause after each run, usage flushed every {COMPARED_FLUSH_S:g} s, "
            "so that a run's deferred writes land in it or in the pause after it; "
            "rows: all rounds together (p50/p99: medians of the rounds'), ratio: the median of "
            "the rounds' ratios",
            "load": wrk_description(wrk),
        },
        warnings=http.warnings,
        notes=[
            "ratio: throughput relative to the row it is compared with: the large table vs "
            f"{SMALL_KEY_COUNT} keys; with a project key vs anonymous at the same connections",
            *goal_notes(options, verification, rejection, http),
            *http.notes,
        ],
    )


def on_server_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run in-process measurements on the event loop uvicorn picks: uvloop, when installed."""
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        return runner.run(coroutine)


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:  # as uvicorn does without it
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def loop_name() -> str:
    return event_loop_factory().__module__.split(".")[0]


# --- 1. Valid keys, in process -----------------------------------------------------------------


@dataclass(frozen=True)
class LoadTimes:
    """How long one bulk load took, step by step (insert_s includes the commit)."""

    key_count: int
    generate_s: float
    insert_s: float
    settle_s: float
    settle_what: str

    def describe(self) -> str:
        rate = self.key_count / self.insert_s if self.insert_s else 0.0
        return (
            f"{self.key_count:,} keys generated in {self.generate_s:.1f} s, inserted in "
            f"{self.insert_s:.1f} s ({rate:,.0f} rows/s), then {self.settle_what} "
            f"{self.settle_s:.1f} s"
        )


@dataclass(frozen=True)
class Verification:
    small: Measurement
    large: Measurement
    sample_size: int
    lookup_name: str
    migrate_s: float
    load: LoadTimes


def measure_verification(options: RunOptions, large_count: int) -> Verification:
    """Verification in two throwaway databases, a small and a large one, measured in turn."""
    with tempfile.TemporaryDirectory(prefix="traylinx-bench-") as workdir:
        small_dir, large_dir = Path(workdir) / "small", Path(workdir) / "large"
        small_dir.mkdir()
        large_dir.mkdir()
        with (
            provisioned_database(options.database, small_dir) as small_url,
            provisioned_database(options.database, large_dir) as large_url,
        ):
            return on_server_loop(
                verify_small_and_large(small_url, large_url, options, large_count)
            )


def activate_database(database_url: str) -> Engine[Any]:
    """Bind the app's tables to this run's database, as the service does at start."""
    # The first activate() imports app.piccolo_conf, which builds (and so connects) an engine
    # for DATABASE_URL, or creates var/traylinx.sqlite3 when it is unset: point it here too.
    with environment_variable("DATABASE_URL", database_url):
        engine = db.make_engine(DatabaseConfig(url=database_url))
        db.activate(engine)
    return engine


@contextmanager
def environment_variable(name: str, value: str) -> Iterator[None]:
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            del os.environ[name]
        else:
            os.environ[name] = previous


@dataclass(frozen=True)
class KeyTable:
    """A database holding one project's keys, and the service's verification wired to it."""

    engine: Engine[Any]
    lookup: KeyLookup
    verify: Callable[[str], Awaitable[bool]]
    real_keys: list[str]
    load: LoadTimes
    migrate_s: float

    async def close(self) -> None:
        await self.lookup.close()
        db.activate(self.engine)
        await db.stop()


async def key_table(database_url: str, count: int) -> KeyTable:
    """Migrate a database as the service does, fill `api_keys` with `count` keys, and attach
    the app's own lookup for it (each table keeps its own, so the two can take turns)."""
    engine = activate_database(database_url)
    started = time.perf_counter()
    await db.start()
    migrate_s = time.perf_counter() - started
    writer = await open_writer(engine)
    try:
        project_id = uuid.uuid4()
        await writer.add_project(project_id, datetime.now(UTC))
        real_keys, load = await load_keys(writer, project_id, count)
    finally:
        await writer.close()
    lookup = open_key_lookup()
    authenticator = ApiKeyAuthenticator(SystemClock(), LastUseRecorder())
    authenticator.attach(lookup)
    return KeyTable(
        engine=engine,
        lookup=lookup,
        verify=valid_key_check(authenticator, project_id),
        real_keys=real_keys,
        load=load,
        migrate_s=migrate_s,
    )


async def verify_small_and_large(
    small_url: str, large_url: str, options: RunOptions, large_count: int
) -> Verification:
    small = await key_table(small_url, SMALL_KEY_COUNT)
    try:
        large = await key_table(large_url, large_count)
        try:
            quick = " (--quick)" if options.quick else ""
            small_run, large_run = await alternate_calls(
                [
                    (f"verify a valid key, {SMALL_KEY_COUNT} keys in the table", small),
                    (f"verify a valid key, {large_count:,} keys in the table{quick}", large),
                ],
                options,
            )
        finally:
            await large.close()
    finally:
        await small.close()
    return Verification(
        small=small_run,
        large=large_run,
        sample_size=len(large.real_keys),
        lookup_name=type(large.lookup).__name__,
        migrate_s=large.migrate_s,
        load=large.load,
    )


async def alternate_calls(
    sides: list[tuple[str, KeyTable]], options: RunOptions
) -> list[Measurement]:
    """Each side warmed up, then timed in rounds that take turns (the order flipping every
    round), so that both see the same machine; each side's samples are then pooled."""
    rounds = QUICK_ROUNDS if options.quick else CALL_ROUNDS
    for label, table in sides:
        progress(f"{label}: {options.warmup_s} s warm-up")
        warmup = await run_calls(table.verify, table.real_keys, options.warmup_s)
        if warmup.wrong:
            raise HarnessError(f"{label}: {warmup.wrong} valid keys refused during the warm-up")
    progress(f"alternating {rounds} rounds, {options.duration_s} s in all per table")
    runs: list[list[CallRun]] = [[] for _ in sides]
    for index in range(rounds):
        order = list(range(len(sides))) if index % 2 == 0 else list(reversed(range(len(sides))))
        for side in order:
            # Garbage from the other side's round should not be collected on this one's clock.
            gc.collect()
            table = sides[side][1]
            runs[side].append(
                await run_calls(table.verify, table.real_keys, options.duration_s / rounds)
            )
    return [pooled(label, side_runs) for (label, _), side_runs in zip(sides, runs, strict=True)]


def pooled(label: str, runs: list[CallRun]) -> Measurement:
    ordered = sorted(latency for run in runs for latency in run.latencies_ns)
    if not ordered:
        raise HarnessError(f"{label}: no call completed")
    elapsed_s = sum(run.elapsed_s for run in runs)
    return Measurement(
        label=label,
        connections=None,
        requests=len(ordered),
        duration_s=round(elapsed_s, 3),
        rps=round(len(ordered) / elapsed_s, 1),
        p50_ms=round(percentile(ordered, 0.50) / 1e6, 5),
        p99_ms=round(percentile(ordered, 0.99) / 1e6, 5),
        wrong_results=sum(run.wrong for run in runs),
    )


def valid_key_check(
    authenticator: ApiKeyAuthenticator, project_id: uuid.UUID
) -> Callable[[str], Awaitable[bool]]:
    async def verify(key: str) -> bool:
        try:
            principal = await authenticator.authenticate(key, CLIENT_IP)
        except BearerRejected:
            return False
        return principal.project_id == project_id

    return verify


# --- Key generation and bulk insert ------------------------------------------------------------


@dataclass(frozen=True)
class KeyBatch:
    rows: list[KeyRow]
    real_keys: list[str]


async def load_keys(
    writer: BulkWriter, project_id: uuid.UUID, count: int
) -> tuple[list[str], LoadTimes]:
    """Insert `count` keys in one transaction; return the plaintext of the real ones, spread
    evenly over them, and how long each step took."""
    progress(f"inserting {count:,} keys")
    check_filler_format()
    # About SAMPLE_SIZE real keys, one every `real_every` rows (all of them in a small table).
    real_every = max(1, math.ceil(count / SAMPLE_SIZE))
    # created_at grows by a microsecond per key up to now, like keys made one after another.
    created_from = datetime.now(UTC) - timedelta(microseconds=count)
    real_keys: list[str] = []
    generate_s = insert_s = 0.0
    await writer.begin()
    for start in range(0, count, BATCH_SIZE):
        size = min(BATCH_SIZE, count - start)
        generated_at = time.perf_counter()
        batch = key_batch(
            project_id, start, size, real_every=real_every, first_created=created_from
        )
        inserted_at = time.perf_counter()
        await writer.write(batch.rows)
        generate_s += inserted_at - generated_at
        insert_s += time.perf_counter() - inserted_at
        real_keys += batch.real_keys
    committed_at = time.perf_counter()
    await writer.commit()
    insert_s += time.perf_counter() - committed_at
    settled_at = time.perf_counter()
    settle_what = await writer.settle()
    times = LoadTimes(
        key_count=count,
        generate_s=generate_s,
        insert_s=insert_s,
        settle_s=time.perf_counter() - settled_at,
        settle_what=settle_what,
    )
    progress(times.describe())
    return real_keys, times


def key_batch(
    project_id: uuid.UUID, start: int, size: int, *, real_every: int, first_created: datetime
) -> KeyBatch:
    """Rows `start` to `start + size` of a load: every `real_every`-th key a real one."""
    filler = random_base62(size * _FILLER_CHARS)
    rows: list[KeyRow] = []
    real_keys: list[str] = []
    for offset in range(size):
        index = start + offset
        if index % real_every == 0:
            key_id = tokens.new_key_id()
            key = tokens.new_project_key(key_id)
            real_keys.append(key)
        else:
            chars = filler[offset * _FILLER_CHARS : (offset + 1) * _FILLER_CHARS]
            key_id = chars[: tokens.KEY_ID_LENGTH]
            key = filler_key(key_id, chars[tokens.KEY_ID_LENGTH :])
        created_at = first_created + timedelta(microseconds=index)
        rows.append(
            (key_id, project_id, KEY_NOTE, tokens.key_start(key_id), tokens.digest(key), created_at)
        )
    return KeyBatch(rows=rows, real_keys=real_keys)


def random_base62(length: int) -> str:
    """`length` uniformly random base62 characters, from bulk reads of the system CSPRNG."""
    chunks: list[bytes] = []
    have = 0
    while have < length:
        # ~3% of bytes are dropped; ask for a little more so that one round is nearly always enough.
        chunk = secrets.token_bytes(length - have + length // 16 + 16)
        chunk = chunk.translate(_BYTE_TO_BASE62, _UNEVEN_BYTES)
        chunks.append(chunk)
        have += len(chunk)
    return b"".join(chunks)[:length].decode("ascii")


def filler_key(key_id: str, secret: str) -> str:
    body = f"{tokens.PROJECT_KEY_PREFIX}{key_id}_{secret}"
    # The app's own checksum, so that a filler key is a valid key in every respect.
    return body + tokens._base62_checksum(body)


def check_filler_format() -> None:
    """Fail if the fast generator's keys would not pass the app's own parser."""
    filler = random_base62(_FILLER_CHARS)
    key_id = filler[: tokens.KEY_ID_LENGTH]
    key = filler_key(key_id, filler[tokens.KEY_ID_LENGTH :])
    try:
        parts = tokens.parse_project_key(key)
    except tokens.MalformedProjectKey as error:
        raise HarnessError(f"the filler key generator is out of date: {error}") from None
    if parts.key_id != key_id:
        raise HarnessError("the filler key generator is out of date: the key id moved")


class BulkWriter(Protocol):
    """A second connection that inserts the way an import would, beside the app's own."""

    async def add_project(self, project_id: uuid.UUID, created_at: datetime) -> None: ...

    async def begin(self) -> None: ...

    async def write(self, rows: list[KeyRow]) -> None: ...

    async def commit(self) -> None: ...

    async def settle(self) -> str:
        """Bring the table to the state a long-lived one is in; return the step's name."""
        ...

    async def close(self) -> None: ...


async def open_writer(engine: Engine[Any]) -> BulkWriter:
    if isinstance(engine, SQLiteEngine):
        return SQLiteBulkWriter(engine.path)
    if isinstance(engine, PostgresEngine):
        return await PostgresBulkWriter.connect(engine.config)
    raise HarnessError(f"no bulk writer for {type(engine).__name__}")


class SQLiteBulkWriter:
    def __init__(self, path: str) -> None:
        # Values go through the adapters Piccolo registers with sqlite3 (UUID and datetime to
        # text), so the rows are stored exactly as the app stores them.
        self._connection = sqlite3.connect(path, isolation_level=None)
        # 256 MiB of page cache instead of 2 MiB: a million random key ids touch every page of
        # the primary key index, and evicting them mid-insert makes the load several times slower.
        self._connection.execute("PRAGMA cache_size = -262144")

    async def add_project(self, project_id: uuid.UUID, created_at: datetime) -> None:
        self._connection.execute(
            "INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?)",
            (project_id, "Bench project", created_at),
        )

    async def begin(self) -> None:
        self._connection.execute("BEGIN IMMEDIATE")

    async def write(self, rows: list[KeyRow]) -> None:
        placeholders = ", ".join("?" for _ in KEY_COLUMNS)
        self._connection.executemany(
            f"INSERT INTO api_keys ({', '.join(KEY_COLUMNS)}) VALUES ({placeholders})",  # noqa: S608 (constants)
            rows,
        )

    async def commit(self) -> None:
        self._connection.execute("COMMIT")

    async def settle(self) -> str:
        # One transaction of a million rows leaves a WAL as large as the table; a running
        # service's WAL is small. Measure reads in that state, not in the aftermath of an import.
        busy, _, _ = self._connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise HarnessError("SQLite could not checkpoint the WAL after the load (busy)")
        return "WAL checkpoint"

    async def close(self) -> None:
        self._connection.close()


class PostgresBulkWriter:
    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection
        self._transaction: Any = None

    @classmethod
    async def connect(cls, config: dict[str, Any]) -> PostgresBulkWriter:
        return cls(await asyncpg.connect(**config))

    async def add_project(self, project_id: uuid.UUID, created_at: datetime) -> None:
        await self._connection.execute(
            "INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3)",
            project_id,
            "Bench project",
            created_at,
        )

    async def begin(self) -> None:
        self._transaction = self._connection.transaction()
        await self._transaction.start()

    async def write(self, rows: list[KeyRow]) -> None:
        await self._connection.copy_records_to_table(
            "api_keys", records=rows, columns=list(KEY_COLUMNS)
        )

    async def commit(self) -> None:
        await self._transaction.commit()

    async def settle(self) -> str:
        # Fresh rows make their first readers set hint bits (writes), and autovacuum would start
        # on the new million rows in the middle of a timed run; a long-lived table has neither.
        await self._connection.execute("VACUUM ANALYZE api_keys")
        return "VACUUM ANALYZE"

    async def close(self) -> None:
        await self._connection.close()


# --- 2. Malformed keys, in process -------------------------------------------------------------


class LookupReachedError(Exception):
    """A malformed key got as far as the database."""


class TripwireLookup:
    """Stands in for the database: a malformed key must be refused before any lookup."""

    async def find(self, key_id: str) -> StoredKey | None:
        raise LookupReachedError(key_id)

    async def close(self) -> None:
        return None


async def measure_rejections(options: RunOptions) -> Measurement:
    lookup: KeyLookup = TripwireLookup()
    authenticator = ApiKeyAuthenticator(SystemClock(), LastUseRecorder())
    authenticator.attach(lookup)

    async def refuse(key: str) -> bool:
        try:
            await authenticator.authenticate(key, CLIENT_IP)
        except BearerRejected:
            return True
        except LookupReachedError:
            return False
        return False  # accepted

    return await measure_calls(
        "reject a malformed key (5 kinds), no database", refuse, malformed_keys(), options
    )


def malformed_keys() -> list[str]:
    """Each kind in turn, each variant made from a different valid key."""
    keys: list[str] = []
    for variant in range(MALFORMED_VARIANTS):
        valid = tokens.new_project_key(tokens.new_key_id())
        keys += [
            "tlk_" + valid.removeprefix(tokens.PROJECT_KEY_PREFIX),
            valid[:-1] + ("A" if valid[-1] != "A" else "B"),
            valid[:-1] if variant % 2 else valid + "0",
            not_base62(valid),
            # With the real prefix, so that the guard would hand it to this authenticator. (The
            # guard refuses headers over 4 KiB first; the authenticator must not rely on that.)
            garbage(),
        ]
    return keys


def garbage() -> str:
    prefix = tokens.PROJECT_KEY_PREFIX
    return prefix + secrets.token_urlsafe(GARBAGE_LENGTH)[: GARBAGE_LENGTH - len(prefix)]


def not_base62(valid: str) -> str:
    # The first character of the secret; the length and the prefix stay right.
    position = len(tokens.PROJECT_KEY_PREFIX) + tokens.KEY_ID_LENGTH + 1
    return valid[:position] + "-" + valid[position + 1 :]


# --- Timing in-process calls -------------------------------------------------------------------


@dataclass(frozen=True)
class CallRun:
    latencies_ns: list[int]
    elapsed_s: float
    wrong: int


async def measure_calls(
    label: str, call: Callable[[str], Awaitable[bool]], inputs: Sequence[str], options: RunOptions
) -> Measurement:
    """A warm-up whose timings are dropped (its wrong results still count), then the timed run.

    `call` returns whether the outcome was the expected one; its own small overhead (one
    coroutine and a comparison, well under a microsecond) is included in every latency.
    """
    progress(f"{label}: {options.warmup_s} s warm-up, {options.duration_s} s timed")
    warmup = await run_calls(call, inputs, options.warmup_s)
    # Garbage from the setup and the warm-up should not be collected on the timed run's clock.
    gc.collect()
    timed = await run_calls(call, inputs, options.duration_s)
    return replace(pooled(label, [timed]), warmup_failures=warmup.wrong)


async def run_calls(
    call: Callable[[str], Awaitable[bool]], inputs: Sequence[str], seconds: float
) -> CallRun:
    """Call back to back, cycling over `inputs`, until `seconds` have passed."""
    latencies: list[int] = []
    wrong = 0
    started = now = time.perf_counter_ns()
    deadline = started + int(seconds * 1e9)
    for key in itertools.cycle(inputs):
        if now >= deadline:
            break
        before = time.perf_counter_ns()
        if not await call(key):
            wrong += 1
        now = time.perf_counter_ns()
        latencies.append(now - before)
    return CallRun(latencies_ns=latencies, elapsed_s=(now - started) / 1e9, wrong=wrong)


def percentile(ordered: list[int], fraction: float) -> int:
    # Nearest rank, the definition wrk uses for its percentiles.
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


# --- 3. Over HTTP ------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpResults:
    measurements: list[Measurement]
    alternation: Alternation
    warnings: list[str]
    notes: list[str]


def measure_http(wrk: str, options: RunOptions) -> HttpResults:
    with running_service(options.database, comparison_settings()) as service:
        key = issue_project_key(service)
        anonymous = replace(
            HttpCase.graphql(
                VIEWER_QUERY, expect_data={"viewer": None}, expect_error_codes=("UNAUTHENTICATED",)
            ),
            label=f"POST /graphql {VIEWER_QUERY} anonymous",
        )
        keyed = replace(
            HttpCase.graphql(
                VIEWER_QUERY, expect_data={"viewer": {"__typename": "Project"}}, token=key
            ),
            label=f"POST /graphql {VIEWER_QUERY} with project key",
        )
        for case in (anonymous, keyed):
            preflight(case, service.base_url)
        base, compared = (
            measure(
                wrk,
                case,
                service,
                connections=1,
                duration_s=options.duration_s,
                warmup_s=options.warmup_s,
            )
            for case in [anonymous, keyed]
        )
        alternation = alternate(
            wrk,
            (keyed, service),
            (anonymous, service),
            rounds=QUICK_ROUNDS if options.quick else ROUNDS,
            connections=HTTP_GOAL_CONNECTIONS,
            warmup_s=options.warmup_s,
        )
        keyed_rounds, anonymous_rounds = alternation.measurements
        measurements = [
            base,
            with_ratio(compared, base),
            anonymous_rounds,
            replace(keyed_rounds, ratio=round(alternation.median_ratio, 3)),
        ]
        warnings, notes = server_remarks(service, measurements)
    return HttpResults(
        measurements=measurements, alternation=alternation, warnings=warnings, notes=notes
    )


def issue_project_key(service: RunningService) -> str:
    """A project key obtained the way a client gets one: sign up, create a project, create a key."""
    token = sign_up(service)
    progress("creating a project and an API key")
    project = mutation_payload(
        service, CREATE_PROJECT, {"name": "Bench project"}, token, "createProject"
    )
    created = mutation_payload(
        service,
        CREATE_API_KEY,
        {"projectId": project["project"]["id"], "note": KEY_NOTE},
        token,
        "createApiKey",
    )
    secret = created.get("secret")
    if not isinstance(secret, str):
        raise HarnessError(f"createApiKey returned no secret: {created}")
    return secret


def mutation_payload(
    service: RunningService, query: str, fields: dict[str, Any], token: str, name: str
) -> dict[str, Any]:
    """The payload of mutation `name`; fails on any error or user error."""
    response = httpx.post(
        service.url("/graphql"),
        json={"query": query, "variables": {"i": fields}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30.0,
    )
    try:
        body = response.json()
        payload = body["data"][name]
    except (ValueError, KeyError, TypeError):
        payload = None
    if response.status_code != 200 or not isinstance(payload, dict) or payload["userErrors"]:
        raise HarnessError(f"{name} failed: {response.status_code} {response.text[:500]}")
    return payload


# --- The verdicts ------------------------------------------------------------------------------


def with_ratio(measurement: Measurement, base: Measurement) -> Measurement:
    """`measurement` with its throughput relative to `base`."""
    if base.rps <= 0:
        return measurement
    return replace(measurement, ratio=round(measurement.rps / base.rps, 3))


def goal_notes(
    options: RunOptions,
    verification: Verification,
    rejection: Measurement,
    http: HttpResults,
) -> list[str]:
    small_us, large_us = verification.small.p50_ms * 1000, verification.large.p50_ms * 1000
    latency_ratio = large_us / small_us if small_us else math.inf
    notes = [
        f"goal: median verification with the large table / with {SMALL_KEY_COUNT} keys = "
        f"{large_us:.1f} / {small_us:.1f} µs = {latency_ratio:.2f} (target <= {RATIO_GOAL}): "
        f"{verdict(latency_ratio <= RATIO_GOAL)}",
    ]
    if options.database == "sqlite":
        met = max(small_us, large_us) < SQLITE_GOAL_US
        notes.append(
            f"goal: median verification on SQLite {small_us:.1f} µs with {SMALL_KEY_COUNT} keys, "
            f"{large_us:.1f} µs with the large table (target < {SQLITE_GOAL_US:.0f} µs): "
            f"{verdict(met)}"
        )
    else:
        notes.append(
            f"the < {SQLITE_GOAL_US:.0f} µs target is for SQLite; here (PostgreSQL over "
            f"loopback) the medians are {small_us:.1f} and {large_us:.1f} µs"
        )
    notes.append(
        f"malformed keys: {rejection.rps:,.0f} rejections/s, median "
        f"{rejection.p50_ms * 1000:.1f} µs; {rejection.wrong_results} reached a lookup or "
        "were accepted"
    )
    alternation = http.alternation
    notes.append(
        f"goal: HTTP throughput with a project key / anonymous at c={HTTP_GOAL_CONNECTIONS}, "
        f"{alternation.median_note(HTTP_GOAL)}: "
        f"{verdict(alternation.median_ratio >= HTTP_GOAL)}; {alternation.cpu_note()}"
    )
    if options.quick:
        notes.append(
            f"--quick: the large table has {QUICK_LARGE_KEY_COUNT:,} keys, not "
            f"{LARGE_KEY_COUNT:,}; a smoke test, not a headline number"
        )
    return notes


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


SCENARIO = Scenario(
    name="api-keys",
    title="Project API key verification",
    summary="authenticate() with 10 vs 1,000,000 keys, malformed keys, and HTTP with a key vs "
    "anonymous",
    run=run,
)
