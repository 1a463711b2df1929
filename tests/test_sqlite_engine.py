"""SQLite transactions on reused connections: each starts clean, whatever the last one did."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from piccolo.engine.sqlite import TransactionType

from app.db import SQLiteEngineWithSharedConnection


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[SQLiteEngineWithSharedConnection]:
    engine = SQLiteEngineWithSharedConnection(path=str(tmp_path / "t.sqlite3"), timeout=30)
    async with engine.transaction(TransactionType.immediate) as transaction:
        await transaction.connection.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, n TEXT)")
    yield engine
    await engine.close_writers()


async def _notes(engine: SQLiteEngineWithSharedConnection) -> list[str]:
    async with engine.transaction() as transaction:
        cursor = await transaction.connection.execute("SELECT n FROM notes ORDER BY id")
        return [row["n"] for row in await cursor.fetchall()]


async def _add(engine: SQLiteEngineWithSharedConnection, note: str) -> int:
    """Adds a note; returns the id of the connection that wrote it."""
    async with engine.transaction(TransactionType.immediate) as transaction:
        await transaction.connection.execute("INSERT INTO notes (n) VALUES (?)", (note,))
        return id(transaction.connection)


async def test_transactions_one_after_another_share_one_connection(
    engine: SQLiteEngineWithSharedConnection,
) -> None:
    used = {await _add(engine, f"note {index}") for index in range(5)}

    assert len(used) == 1
    assert await _notes(engine) == [f"note {index}" for index in range(5)]


async def test_a_failed_transaction_is_rolled_back_and_its_connection_starts_clean(
    engine: SQLiteEngineWithSharedConnection,
) -> None:
    used: list[int] = []

    async def fails_half_way() -> None:
        async with engine.transaction(TransactionType.immediate) as transaction:
            await transaction.connection.execute("INSERT INTO notes (n) VALUES ('lost')")
            used.append(id(transaction.connection))
            raise RuntimeError("half way")

    with pytest.raises(RuntimeError, match="half way"):
        await fails_half_way()
    used.append(await _add(engine, "kept"))

    assert used[0] == used[1]  # the same connection, still open, taken again
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
    async def slow_add(index: int) -> int:
        async with engine.transaction() as transaction:  # deferred: all may be open at once
            await asyncio.sleep(0.01)
            cursor = await transaction.connection.execute("SELECT count(*) AS c FROM notes")
            await cursor.fetchall()
            return id(transaction.connection)

    used = await asyncio.gather(*(slow_add(index) for index in range(10)))

    assert len(set(used)) == 10
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
