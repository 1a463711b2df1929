"""Primary-key reads on the hot path of every authenticated request, without the ORM.

Verifying a project key or an access token's session is one row read by primary key on every
request, so it bypasses the query builder:
- SQLite: one long-lived read-only connection, queried synchronously on the event loop. A
  primary-key read on a WAL database takes microseconds and never waits for writers, which is
  cheaper than Piccolo's thread-per-query connection by two orders of magnitude. Rows read are
  kept only while the database is unchanged: `PRAGMA data_version` changes whenever any other
  connection, in this process or another, commits anything, and the kept rows go then.
- PostgreSQL: one prepared statement on the pool, nothing kept. Lookups made at the same time
  share round trips: at most `max_queries` run at once, and ids asked for meanwhile go together
  in the next query, so under load dozens of requests cost one round trip instead of dozens.
  A lookup never joins a query already sent: it always reads the database as it is after the
  lookup began.
Either way a row changed by any process is read as changed on the very next request, on every
process: nothing read outlives a commit.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import asyncpg
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from app.db.engine import engine
from app.db.errors import DatabaseError

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
K_contra = TypeVar("K_contra", bound=Hashable, contravariant=True)
V_co = TypeVar("V_co", covariant=True)


@dataclass(frozen=True)
class RowQuery(Generic[K, V]):
    """How to read one kind of row by id on either engine.

    `select` ends with the id column to compare, e.g. `"SELECT ... FROM t WHERE t.id "`; the
    comparison is added per engine. `from_sqlite` gets the row as a tuple, `from_postgres` as
    an asyncpg record; `postgres_array` is the id's array type for batched reads.
    """

    select: str
    postgres_array: str
    from_sqlite: Callable[[tuple[Any, ...]], V]
    from_postgres: Callable[[asyncpg.Record], V]
    id_of: Callable[[asyncpg.Record], K]


class RowLookup(Protocol[K_contra, V_co]):
    async def find(self, row_id: K_contra) -> V_co | None: ...

    async def close(self) -> None: ...


class SQLiteLookup(Generic[K, V]):
    def __init__(self, path: str, query: RowQuery[K, V], *, kept_rows: int = 10_000) -> None:
        # check_same_thread=False: opened at startup, used on the event loop thread afterwards.
        # Not `mode=ro`: a read-only connection cannot open a WAL database whose shared-memory
        # file is gone; query_only gives the same safety. Autocommit: every read sees the latest
        # commit. A short timeout: this call runs on the event loop.
        self._connection = sqlite3.connect(
            path, check_same_thread=False, isolation_level=None, timeout=1.0
        )
        self._connection.execute("PRAGMA query_only = 1")
        # Keep the index hot: with a million rows, the default 2 MiB page cache makes a lookup
        # of a row not seen lately cost ~2x a recent one. Memory-mapped reads also skip a system
        # call per page.
        self._connection.execute("PRAGMA cache_size = -65536")
        self._connection.execute("PRAGMA mmap_size = 268435456")
        self._select = query.select + "= ?"
        self._convert = query.from_sqlite
        # Rows read since the database last changed (unknown ids too, as None), at most
        # `kept_rows` of them: a flood of made-up ids cannot grow it.
        self._kept: dict[K, V | None] = {}
        self._kept_rows = kept_rows
        self._kept_at_version: int | None = None

    async def find(self, row_id: K) -> V | None:
        version = self._connection.execute("PRAGMA data_version").fetchone()[0]
        if version != self._kept_at_version:
            self._kept.clear()
            self._kept_at_version = version
        elif row_id in self._kept:
            return self._kept[row_id]
        row = self._connection.execute(self._select, (_sqlite_id(row_id),)).fetchone()
        stored = None if row is None else self._convert(row)
        if self._kept_rows:
            if len(self._kept) >= self._kept_rows:
                self._kept.clear()
            self._kept[row_id] = stored
        return stored

    async def close(self) -> None:
        self._connection.close()


def _sqlite_id(row_id: object) -> object:
    # Piccolo stores UUIDs on SQLite as their text.
    return row_id if isinstance(row_id, str | int) else str(row_id)


class PostgresLookup(Generic[K, V]):
    def __init__(
        self, postgres: PostgresEngine, query: RowQuery[K, V], *, max_queries: int = 2
    ) -> None:
        self._engine = postgres
        self._query = query
        self._select_one = query.select + "= $1"
        # A one-element array costs ~25 µs more than `= $1` per query; most queries carry one id.
        self._select_many = query.select + f"= ANY($1::{query.postgres_array}[])"
        self._max_queries = max_queries
        self._queries = 0
        # Lookups waiting for a query slot: id -> the futures of everyone asking for it.
        self._waiting: dict[K, list[asyncio.Future[V | None]]] = {}
        # Batches sent (or about to be), by the task answering them.
        self._answering: dict[asyncio.Task[None], dict[K, list[asyncio.Future[V | None]]]] = {}
        self._closed = False

    async def find(self, row_id: K) -> V | None:
        if self._closed:
            raise DatabaseError("the lookup is closed")
        if self._queries < self._max_queries:
            # Nobody is waiting whenever a slot is free, so this lookup goes alone, at once.
            self._queries += 1
            try:
                return (await self._read([row_id])).get(row_id)
            finally:
                self._query_done()
        # Each caller has its own future: one caller giving up does not cancel the others.
        answer: asyncio.Future[V | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(row_id, []).append(answer)
        return await answer

    def _query_done(self) -> None:
        self._queries -= 1
        if not self._waiting:
            return
        batch, self._waiting = self._waiting, {}
        if self._closed:
            _fail(batch, DatabaseError("the lookup was closed"))
            return
        self._queries += 1
        task = asyncio.create_task(self._answer(batch), name="row-lookup")
        self._answering[task] = batch
        task.add_done_callback(self._answering.pop)

    async def _answer(self, batch: dict[K, list[asyncio.Future[V | None]]]) -> None:
        try:
            found = await self._read(list(batch))
        except Exception as error:
            _fail(batch, error)
        except BaseException:
            # Cancelled (closing) or worse: the waiters still get an answer, and the task ends.
            _fail(batch, DatabaseError("the lookup was interrupted"))
            raise
        else:
            for row_id, answers in batch.items():
                stored = found.get(row_id)
                for answer in answers:
                    if not answer.done():
                        answer.set_result(stored)
        finally:
            self._query_done()

    async def _read(self, row_ids: list[K]) -> dict[K, V]:
        query, argument = (
            (self._select_one, row_ids[0]) if len(row_ids) == 1 else (self._select_many, row_ids)
        )
        pool: asyncpg.Pool | None = self._engine.pool
        if pool is not None:
            rows = await pool.fetch(query, argument)
        else:  # commands that run without a pool
            connection = await asyncpg.connect(**self._engine.config)
            try:
                rows = await connection.fetch(query, argument)
            finally:
                await connection.close()
        return {self._query.id_of(row): self._query.from_postgres(row) for row in rows}

    async def close(self) -> None:
        """Refuse new lookups, and answer every waiting one with an error: a batch whose task
        never got to run would otherwise leave its callers waiting for good."""
        self._closed = True
        waiting, self._waiting = self._waiting, {}
        _fail(waiting, DatabaseError("the lookup was closed"))
        answering = list(self._answering.items())
        for task, batch in answering:
            _fail(batch, DatabaseError("the lookup was closed"))
            task.cancel()
        await asyncio.gather(*(task for task, _ in answering), return_exceptions=True)


def _fail(batch: dict[Any, list[asyncio.Future[Any]]], error: Exception) -> None:
    for answers in batch.values():
        for answer in answers:
            if not answer.done():
                answer.set_exception(error)


def open_lookup(query: RowQuery[K, V]) -> RowLookup[K, V]:
    """The lookup of `query` for the active database; call after `db.start()`."""
    current: Any = engine()
    if isinstance(current, SQLiteEngine):
        return SQLiteLookup(current.path, query)
    if isinstance(current, PostgresEngine):
        return PostgresLookup(current, query)
    raise DatabaseError(f"no lookup for {type(current).__name__}")


def sqlite_time(value: str | None) -> datetime | None:
    # Piccolo stores Timestamptz on SQLite as ISO text with an offset.
    return datetime.fromisoformat(value) if value is not None else None
