"""SQLite transactions on reused connections: each starts clean, whatever the last one did."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest
from piccolo.engine.sqlite import TransactionType

from app.db.sqlite import SQLiteEngineWithSharedConnection


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[SQLiteEngineWithSharedConnection]:
    path = tmp_path / "t.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA journal_mode = WAL")  # as the service runs
    engine = SQLiteEngineWithSharedConnection(path=str(path), timeout=30)
    async with engine.transaction(TransactionType.immediate) as transaction:
        await transaction.connection.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, n TEXT)")
    engine.keep_writers()  # as db.start() does
    yield engine
    await engine.close_writers()


async def _notes(engine: SQLiteEngineWithSharedConnection) -> list[str]:
    async with engine.transaction() as transaction:
        cursor = await transaction.connection.execute("SELECT n FROM notes ORDER BY id")
        return [row["n"] for row in await cursor.fetchall()]


async def _add(engine: SQLiteEngineWithSharedConnection, note: str) -> aiosqlite.Connection:
    """Adds a note; returns the connection that wrote it."""
    async with engine.transaction(TransactionType.immediate) as transaction:
        await transaction.connection.execute("INSERT INTO notes (n) VALUES (?)", (note,))
        connection: aiosqlite.Connection = transaction.connection
        return connection


async def test_transactions_one_after_another_share_one_connection(
    engine: SQLiteEngineWithSharedConnection,
) -> None:
    used = [await _add(engine, f"note {index}") for index in range(5)]

    assert all(connection is used[0] for connection in used)
    assert await _notes(engine) == [f"note {index}" for index in range(5)]


async def test_a_failed_transaction_is_rolled_back_and_its_connection_starts_clean(
    engine: SQLiteEngineWithSharedConnection,
) -> None:
    used: list[aiosqlite.Connection] = []

    async def fails_half_way() -> None:
        async with engine.transaction(TransactionType.immediate) as transaction:
            await transaction.connection.execute("INSERT INTO notes (n) VALUES ('lost')")
            used.append(transaction.connection)
            raise RuntimeError("half way")

    with pytest.raises(RuntimeError, match="half way"):
        await fails_half_way()
    used.append(await _add(engine, "kept"))

    assert used[0] is used[1]  # the same connection, still open, taken again
    assert await _notes(engine) == ["kept"]


async def test_a_cancelled_transaction_leaves_nothing_behind(
    engine: SQLiteEngineWithSharedConnection,
) -> None:
    inside = asyncio.Event()

    async def interrupted() -> None:
        async with engine.transaction(TransactionType.immediate) as transaction:
            await transaction.connection.execute("INSERT INTO notes (n) VALUES ('lost')")
            inside.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(interrupted())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _add(engine, "kept")

    assert await _notes(engine) == ["kept"]


async def test_concurrent_transactions_each_get_a_connection_and_few_are_kept(
    engine: SQLiteEngineWithSharedConnection,
) -> None:
    async def slow_read(index: int) -> aiosqlite.Connection:
        async with engine.transaction() as transaction:  # deferred: all may be open at once
            await asyncio.sleep(0.01)
            cursor = await transaction.connection.execute("SELECT count(*) AS c FROM notes")
            await cursor.fetchall()
            await cursor.close()
            connection: aiosqlite.Connection = transaction.connection
            return connection

    used = await asyncio.gather(*(slow_read(index) for index in range(10)))

    assert len({id(connection) for connection in used}) == 10  # all alive at once: ids differ
    assert len(engine._idle_writers) == 4
    await engine.close_writers()
    assert engine._idle_writers == []
    await _add(engine, "after closing")  # a new connection is opened on demand
    assert await _notes(engine) == ["after closing"]


async def test_a_connection_left_inside_a_transaction_is_not_handed_on(
    engine: SQLiteEngineWithSharedConnection,
) -> None:
    async with engine.transaction(TransactionType.immediate) as transaction:
        await transaction.connection.execute("INSERT INTO notes (n) VALUES ('first')")
        await transaction.connection.commit()
        transaction._committed = True  # as if committed by hand...
        await transaction.connection.execute("BEGIN")  # ...and a new one begun and forgotten

    assert engine._idle_writers == []  # closed, not kept
    await _add(engine, "second")
    assert await _notes(engine) == ["first", "second"]


async def test_a_transaction_cancelled_while_waiting_for_the_write_lock_leaves_nothing_behind(
    engine: SQLiteEngineWithSharedConnection, tmp_path: Path
) -> None:
    holder = sqlite3.connect(tmp_path / "t.sqlite3", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's writer, holding the lock
    try:
        waiting = asyncio.create_task(_add(engine, "never"))
        await asyncio.sleep(0.2)
        waiting.cancel()
        await asyncio.sleep(0.2)
    finally:
        holder.execute("ROLLBACK")  # the other writer finishes; the lock wait then ends
        holder.close()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await _add(engine, "after")

    assert await _notes(engine) == ["after"]


async def test_before_start_and_after_stop_no_connection_is_kept(tmp_path: Path) -> None:
    engine = SQLiteEngineWithSharedConnection(path=str(tmp_path / "c.sqlite3"), timeout=30)
    async with engine.transaction(TransactionType.immediate) as transaction:
        await transaction.connection.execute("CREATE TABLE t (x INTEGER)")
    assert engine._idle_writers == []  # e.g. migrations and commands: closed, as Piccolo does
    engine.keep_writers()
    async with engine.transaction(TransactionType.immediate) as transaction:
        await transaction.connection.execute("INSERT INTO t VALUES (1)")
    assert len(engine._idle_writers) == 1
    await engine.close_writers()
    async with engine.transaction(TransactionType.immediate) as transaction:
        await transaction.connection.execute("INSERT INTO t VALUES (2)")
    assert engine._idle_writers == []


def test_the_migrate_command_exits_when_done(tmp_path: Path) -> None:
    # An aiosqlite connection left open keeps its (non-daemon) thread, and the process, alive.
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'm.sqlite3'}",
        "TRAYLINX_VAR_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "app", "migrate"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr


def test_the_database_and_its_folder_are_private_to_their_owner(tmp_path: Path) -> None:
    var = tmp_path / "var"
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{var / 'data' / 'traylinx.sqlite3'}",
        "TRAYLINX_VAR_DIR": str(var),
    }
    # A permissive umask, as on many desktops: the service must not rely on it.
    done = subprocess.run(
        ["sh", "-c", f"umask 022 && exec {sys.executable} -m app migrate"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr

    for folder in (var, var / "data"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    files = [*(var / "data").iterdir(), var / "secret_key", var / "encryption_keys"]
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


async def test_the_wal_and_shared_memory_files_are_private_too(tmp_path: Path) -> None:
    from app import db
    from app.settings import DatabaseConfig

    path = tmp_path / "x.sqlite3"
    old_umask = os.umask(0o022)
    try:
        engine = db.make_engine(DatabaseConfig(url=f"sqlite:///{path}"))
        async with aiosqlite.connect(engine.path) as connection:
            await (await connection.execute("PRAGMA journal_mode=WAL")).fetchall()
            await connection.execute("CREATE TABLE t (x)")
            await connection.commit()
            sidecars = [path.with_name(path.name + end) for end in ("-wal", "-shm")]
            assert all(sidecar.exists() for sidecar in sidecars)
            for file in (path, *sidecars):
                assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    finally:
        os.umask(old_umask)


def test_a_database_others_could_read_is_tightened(tmp_path: Path) -> None:
    from app import db
    from app.settings import DatabaseConfig

    path = tmp_path / "old.sqlite3"
    sqlite3.connect(path).close()
    path.chmod(0o644)

    db.make_engine(DatabaseConfig(url=f"sqlite:///{path}"))

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
