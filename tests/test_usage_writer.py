"""The child process that writes usage batches: what it is sent is what gets stored, and
whatever happens to the child, the database or a record, no other record is lost."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sqlite3
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar import Litestar

from app import db
from app.clock import FrozenClock
from app.main import create_app
from app.settings import (
    DatabaseConfig,
    Settings,
    SettingsError,
    UsageConfig,
    UsageWriterKind,
)
from app.usage import writer as writer_module
from app.usage.recorder import UsageRecord, UsageRecorder
from app.usage.tables import UsageEvent
from app.usage.writer import ProcessWriter, UsageWriterError, WriterConfig, pack, unpack
from tests.conftest import TEST_HASHER, running
from tests.graphql_client import GraphQLClient
from tests.helpers import create_key, create_project, sign_up
from tests.processes import server_process
from tests.test_usage import KEY_DETAILS, Traffic


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 2, 10, 30, tzinfo=UTC))


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Every test here is about the child process that writes usage (production's default).
    The tests flush themselves: the recorder's own loop, every 2 s by default, would take a
    batch a test is holding back."""
    usage = replace(settings.usage, writer=UsageWriterKind.PROCESS, flush_every=timedelta(hours=1))
    return replace(settings, usage=usage)


@pytest.fixture
async def traffic(app: Litestar, clock: FrozenClock) -> Traffic:
    traffic = Traffic(app, clock)
    await traffic.setup()
    return traffic


def _writer(traffic: Traffic) -> ProcessWriter:
    writer = traffic.services.usage_writer
    assert writer is not None, "the app should write usage through a child process by default"
    return writer


async def _usage_24h(traffic: Traffic) -> dict[str, object]:
    data = await traffic.query(
        KEY_DETAILS, {"project": traffic.project["id"], "key": traffic.key["id"]}
    )
    usage: dict[str, object] = data["project"]["apiKey"]["usage24h"]
    return usage


def test_a_batch_arrives_as_it_was_sent() -> None:
    first = UsageRecord(
        project_id=uuid.uuid4(),
        api_key_id="k1",
        endpoint="/v1/chat/completions",
        status=502,
        latency_ms=1234,
        at=datetime(2026, 11, 2, 23, 59, 59, 999_999, tzinfo=UTC),
        provider="anthropic",
        model="claude-sonnet-4-5",
        input_tokens=7,
        output_tokens=11,
        client_ip="2001:db8::1",
        auth_failure="expired",
        upstream_failed=True,
        rejected=False,
        policy_refusal="budget",
        cost_micros=1_234,
    )
    # Every field set, and set apart from its default, so no field can travel as another.
    assert all(
        getattr(first, f.name) != f.default
        for f in msgspec.structs.fields(UsageRecord)
        if f.name != "rejected"
    )
    records = [
        first,
        msgspec.structs.replace(first, upstream_failed=False, rejected=True),
        msgspec.structs.replace(first, at=datetime(2026, 11, 2, 10, 30, tzinfo=UTC)),
        msgspec.structs.replace(first, at=datetime(2112, 3, 4, 5, 6, 7, 891_011, tzinfo=UTC)),
        msgspec.structs.replace(
            first, at=datetime(2026, 11, 3, 4, 0, 0, 1, tzinfo=timezone(timedelta(hours=5)))
        ),
        UsageRecord(uuid.uuid4(), "k2", "/graphql", 200, 0, datetime.now(UTC)),
    ]

    message, unsendable = pack(records)
    arrived, unreadable = unpack(message)

    assert (unsendable, unreadable) == (0, 0)
    assert arrived == records  # every field, and each time to the microsecond
    assert all(record.at.utcoffset() == timedelta(0) for record in arrived)


def test_a_batch_from_other_code_still_arrives() -> None:
    # A child started from newer code than the server's reads the server's records by name: a
    # field the child does not know is skipped, a field the sender leaves out takes its default.
    project_id = uuid.uuid4()
    message = msgspec.msgpack.encode(
        [
            {
                "project_id": project_id.bytes,
                "api_key_id": "k1",
                "endpoint": "/graphql",
                "status": 200,
                "latency_ms": 3,
                "at": datetime(2026, 11, 2, 10, 30, tzinfo=UTC),
                "a_field_of_other_code": "ignored",
            }
        ]
    )

    (arrived,), unreadable = unpack(message)

    assert unreadable == 0
    assert arrived == UsageRecord(
        project_id, "k1", "/graphql", 200, 3, datetime(2026, 11, 2, 10, 30, tzinfo=UTC)
    )


def test_a_record_this_code_cannot_read_is_left_out_alone() -> None:
    good = UsageRecord(uuid.uuid4(), "k1", "/graphql", 200, 3, datetime(2026, 11, 2, tzinfo=UTC))
    other_type = msgspec.structs.asdict(good) | {"input_tokens": 1.5}
    missing_field = msgspec.structs.asdict(good)
    del missing_field["status"]
    message = msgspec.msgpack.Encoder(uuid_format="bytes").encode(
        [good, other_type, missing_field, good]
    )

    records, unreadable = unpack(message)

    assert records == [good, good]
    assert unreadable == 2


def test_queued_records_stay_out_of_the_garbage_collector() -> None:
    record = UsageRecord(uuid.uuid4(), "k", "/graphql", 200, 0, datetime.now(UTC))

    assert not gc.is_tracked(record)


async def test_usage_is_written_by_another_process(traffic: Traffic) -> None:
    await traffic.calls(3)

    writer = _writer(traffic)
    assert writer.pid is not None
    assert writer.pid != os.getpid()
    assert (await _usage_24h(traffic))["requests"] == 3


async def test_a_child_that_dies_loses_no_batch(traffic: Traffic) -> None:
    await traffic.calls(2)
    writer = _writer(traffic)
    first_child = writer.pid
    assert first_child is not None

    os.kill(first_child, signal.SIGKILL)
    await traffic.calls(3, flush=False)
    with pytest.raises(UsageWriterError, match="exited"):
        await traffic.services.usage_recorder.flush()
    assert traffic.services.usage_recorder.queue_depth == 3  # kept for the next flush

    assert await traffic.services.usage_recorder.flush() == 3
    assert writer.pid not in (None, first_child)
    assert (await _usage_24h(traffic))["requests"] == 5
    assert traffic.services.usage_recorder.dropped == 0


async def test_metrics_show_a_child_that_died_and_the_batch_it_failed(traffic: Traffic) -> None:
    await traffic.calls(1)
    writer = _writer(traffic)
    assert writer.pid is not None
    os.kill(writer.pid, signal.SIGKILL)
    await traffic.calls(1, flush=False)
    with pytest.raises(UsageWriterError):
        await traffic.services.usage_recorder.flush()
    await traffic.services.usage_recorder.flush()

    async with traffic.client() as client:
        text = (await client.get("/metrics")).text

    assert "traylinx_usage_failed_batches_total 1.0" in text
    assert "traylinx_usage_writer_processes_started_total 2.0" in text
    assert "traylinx_usage_written_total 2.0" in text


async def test_a_child_that_answers_garbage_is_replaced_and_no_batch_is_lost(
    traffic: Traffic, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "_CHILD_MODULE", "tests.fake_writer_child")
    await traffic.calls(2, flush=False)
    with pytest.raises(UsageWriterError, match="unreadable"):
        await traffic.services.usage_recorder.flush()
    assert _writer(traffic).pid is None  # stopped: its pipe can no longer be trusted
    assert traffic.services.usage_recorder.queue_depth == 2

    monkeypatch.undo()
    assert await traffic.services.usage_recorder.flush() == 2
    assert (await _usage_24h(traffic))["requests"] == 2


async def test_stop_signals_do_not_cut_the_child_off_before_the_last_flush(
    traffic: Traffic,
) -> None:
    # A Ctrl+C or a stop signal to the whole process group reaches the child too; the server
    # flushes after it has received it, so the child must still be there.
    await traffic.calls(1)
    writer = _writer(traffic)
    child = writer.pid
    assert child is not None

    os.kill(child, signal.SIGINT)
    os.kill(child, signal.SIGTERM)
    await traffic.calls(2)

    assert writer.pid == child
    assert (await _usage_24h(traffic))["requests"] == 3


@pytest.mark.parametrize(
    ("writer", "bad_field"),
    [
        # Fits 64 unsigned bits, so it reaches the database, which has no column for it.
        pytest.param(UsageWriterKind.PROCESS, {"latency_ms": 2**64 - 1}, id="process-database"),
        pytest.param(UsageWriterKind.INLINE, {"latency_ms": 2**64 - 1}, id="inline-database"),
        # Cannot even be sent to the writer process.
        pytest.param(UsageWriterKind.PROCESS, {"latency_ms": 2**70}, id="process-huge-int"),
        pytest.param(UsageWriterKind.PROCESS, {"endpoint": "/graphql\udcff"}, id="surrogate"),
        # Sent, but the writer process cannot read it as a record.
        pytest.param(UsageWriterKind.PROCESS, {"input_tokens": 1.5}, id="process-unreadable"),
    ],
)
async def test_a_record_that_cannot_be_written_is_dropped_alone(
    writer: UsageWriterKind, bad_field: dict[str, Any], settings: Settings, clock: FrozenClock
) -> None:
    chosen = replace(settings, usage=replace(settings.usage, writer=writer))
    application = create_app(chosen, clock=clock, hasher=TEST_HASHER)
    async with running(application):
        traffic = Traffic(application, clock)
        await traffic.setup()
        recorder = traffic.services.usage_recorder
        good = [_record_of(traffic, latency_ms=5) for _ in range(3)]
        bad = msgspec.structs.replace(_record_of(traffic, latency_ms=5), **bad_field)
        for record in [good[0], bad, *good[1:]]:
            recorder.record(record)

        assert await recorder.flush() == 3

        assert recorder.dropped == 1
        assert recorder.queue_depth == 0
        assert await UsageEvent.count().where(UsageEvent.api_key_id == traffic.key["id"]) == 3
        assert (await _usage_24h(traffic))["requests"] == 3


async def test_a_batch_with_nothing_to_send_starts_no_child(traffic: Traffic) -> None:
    recorder = traffic.services.usage_recorder
    recorder.record(_record_of(traffic, latency_ms=2**70))

    assert await recorder.flush() == 0

    assert recorder.dropped == 1
    assert _writer(traffic).pid is None


async def test_an_unreachable_database_keeps_the_batch_and_the_password_stays_out(
    capfd: pytest.CaptureFixture[str],
) -> None:
    password = "pw-" + uuid.uuid4().hex
    config = WriterConfig(f"postgresql://postgres:{password}@127.0.0.1:9/none")
    writer = ProcessWriter(config)
    recorder = UsageRecorder(writer)
    recorder.record(UsageRecord(uuid.uuid4(), "k", "/graphql", 200, 1, datetime.now(UTC)))
    try:
        with pytest.raises(UsageWriterError, match="could not write a batch") as raised:
            await recorder.flush()
        child = writer.pid
    finally:
        await writer.close()

    assert recorder.queue_depth == 1
    assert child is not None  # still running: the database may come back
    captured = capfd.readouterr()
    assert "could not write a batch of usage records: DatabaseError" in captured.err
    for text in (str(raised.value), repr(raised.value), repr(config), captured.out, captured.err):
        assert password not in text


async def test_the_child_gets_no_setting_from_the_environment(
    traffic: Traffic, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _writer(traffic).pid is None  # the child starts with the first batch, after this
    secret = "env-" + uuid.uuid4().hex
    monkeypatch.setenv("TRAYLINX_SECRET_KEY", secret)
    monkeypatch.setenv("TRAYLINX_ENCRYPTION_KEYS", secret)
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres:{secret}@127.0.0.1:9/none")
    await traffic.calls(1)

    child = _writer(traffic).pid
    environment = await asyncio.to_thread(Path(f"/proc/{child}/environ").read_bytes)

    assert secret.encode() not in environment
    assert b"PYTHONPATH=" in environment


async def test_closing_lets_the_batch_in_flight_finish(traffic: Traffic, database_url: str) -> None:
    await traffic.calls(1)
    writer = _writer(traffic)
    child = writer.pid
    assert child is not None
    async with _usage_events_locked(database_url):
        await traffic.calls(2, flush=False)
        flushing = asyncio.create_task(traffic.services.usage_recorder.flush())
        await asyncio.sleep(0.3)  # the batch is with the child, which waits for the lock
        closing = asyncio.create_task(writer.close())
        await asyncio.sleep(0.3)
        assert not closing.done()

    assert await flushing == 2
    await closing
    assert writer.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)  # exited and reaped: no zombie left behind
    assert (await _usage_24h(traffic))["requests"] == 3
    with pytest.raises(UsageWriterError, match="closed"):
        await writer([_record_of(traffic, latency_ms=1)])


async def test_a_child_that_dies_mid_batch_loses_nothing(
    traffic: Traffic, database_url: str
) -> None:
    await traffic.calls(1)
    child = _writer(traffic).pid
    assert child is not None
    async with _usage_events_locked(database_url):
        await traffic.calls(3, flush=False)
        flushing = asyncio.create_task(traffic.services.usage_recorder.flush())
        await asyncio.sleep(0.3)
        os.kill(child, signal.SIGKILL)
        with pytest.raises(UsageWriterError, match="exited"):
            await flushing

    assert traffic.services.usage_recorder.queue_depth == 3
    assert await traffic.services.usage_recorder.flush() == 3
    assert (await _usage_24h(traffic))["requests"] == 4


async def test_a_flush_cancelled_mid_batch_loses_nothing(
    traffic: Traffic, database_url: str
) -> None:
    await traffic.calls(1)
    writer = _writer(traffic)
    async with _usage_events_locked(database_url):
        await traffic.calls(3, flush=False)
        flushing = asyncio.create_task(traffic.services.usage_recorder.flush())
        await asyncio.sleep(0.3)
        flushing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await flushing
        # Its answer would have been taken for the next batch's: that child is gone.
        assert writer.pid is None

    assert traffic.services.usage_recorder.queue_depth == 3
    assert await traffic.services.usage_recorder.flush() == 3
    assert (await _usage_24h(traffic))["requests"] == 4


async def test_a_child_that_stops_answering_is_replaced(
    traffic: Traffic, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await traffic.calls(1)
    stuck = _writer(traffic).pid
    with monkeypatch.context() as patched:
        patched.setattr("app.usage.writer._REPLY_TIMEOUT_S", 0.5)
        async with _usage_events_locked(database_url):
            await traffic.calls(2, flush=False)
            with pytest.raises(UsageWriterError, match="did not answer"):
                await traffic.services.usage_recorder.flush()

    assert traffic.services.usage_recorder.queue_depth == 2
    assert await traffic.services.usage_recorder.flush() == 2
    assert _writer(traffic).pid not in (None, stuck)
    assert (await _usage_24h(traffic))["requests"] == 3


async def test_a_full_batch_goes_in_one_message(traffic: Traffic) -> None:
    # Far more than a pipe holds at once (64 KiB): written while the child reads.
    recorder = traffic.services.usage_recorder
    for _ in range(recorder.batch_size):
        recorder.record(_record_of(traffic, latency_ms=3))

    assert await recorder.flush() == recorder.batch_size
    assert (await _usage_24h(traffic))["requests"] == recorder.batch_size


async def test_inline_writing_needs_no_child(settings: Settings, clock: FrozenClock) -> None:
    inline = replace(settings, usage=replace(settings.usage, writer=UsageWriterKind.INLINE))
    application = create_app(inline, clock=clock, hasher=TEST_HASHER)
    async with running(application):
        traffic = Traffic(application, clock)
        await traffic.setup()
        await traffic.calls(2)

        assert traffic.services.usage_writer is None
        assert (await _usage_24h(traffic))["requests"] == 2


@pytest.mark.slow
async def test_a_stopping_server_writes_what_is_queued(
    database_url: str, settings: Settings, tmp_path: Path
) -> None:
    # Nothing is written before the stop: the flush interval is an hour.
    async with server_process(
        database_url, tmp_path, {"TRAYLINX_USAGE_FLUSH_SECONDS": "3600"}
    ) as client:
        gql = GraphQLClient(client)
        owner = await sign_up(gql)
        project = await create_project(gql, owner)
        key = await create_key(gql, owner, project["id"])
        for _ in range(4):
            response = await gql.post("{ viewer { __typename } }", token=key["secret"])
            assert response.status_code == 200

    db.activate(db.make_engine(settings.database))
    assert await UsageEvent.count().where(UsageEvent.api_key_id == key["id"]) == 4


def test_the_writer_is_a_setting() -> None:
    def writer(value: str | None) -> UsageWriterKind:
        env = {"TRAYLINX_SECRET_KEY": "s" * 48}
        if value is not None:
            env["TRAYLINX_USAGE_WRITER"] = value
        return Settings.from_env(env).usage.writer

    assert writer(None) is UsageWriterKind.PROCESS
    assert UsageConfig().writer is UsageWriterKind.PROCESS
    assert writer(" Inline ") is UsageWriterKind.INLINE
    with pytest.raises(SettingsError, match="TRAYLINX_USAGE_WRITER must be process or inline"):
        writer("thread")


@contextlib.asynccontextmanager
async def _usage_events_locked(database_url: str) -> AsyncIterator[None]:
    """Another connection holds a lock that makes the child's batch wait, until the block ends."""
    if database_url.startswith("sqlite"):
        path = DatabaseConfig(url=database_url).sqlite_path
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()
        return
    postgres = await asyncpg.connect(database_url)
    try:
        async with postgres.transaction():
            await postgres.execute("LOCK TABLE usage_events IN EXCLUSIVE MODE")
            yield
    finally:
        await postgres.close()


def _record_of(traffic: Traffic, *, latency_ms: int) -> UsageRecord:
    return UsageRecord(
        project_id=uuid.UUID(traffic.project["id"]),
        api_key_id=traffic.key["id"],
        endpoint="/graphql",
        status=200,
        latency_ms=latency_ms,
        at=traffic.clock.now(),
        client_ip="198.51.100.10",
    )
