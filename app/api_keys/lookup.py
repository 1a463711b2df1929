"""The hot path of key verification: one primary-key read, without the ORM.

Verification runs on every request made with a project key, so it bypasses the query builder:
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
Either way a key deleted by any process is refused on the very next request, on every process.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import asyncpg
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from app import db

# The project's LLM-keys version rides along, so the proxy knows whether its cached routes are
# current without a second read.
_SELECT_KEYS = (
    "SELECT k.id, k.project, k.secret_digest, k.expires_at, k.deleted_at, p.llm_keys_version "
    "FROM api_keys k JOIN projects p ON p.id = k.project WHERE k.id "
)
_SQLITE_SELECT_KEY = _SELECT_KEYS + "= ?"
_POSTGRES_SELECT_KEY = _SELECT_KEYS + "= $1"
# A one-element array costs ~25 µs more than `= $1` per query; most queries carry one id.
_POSTGRES_SELECT_KEYS = _SELECT_KEYS + "= ANY($1::varchar[])"


@dataclass(frozen=True, slots=True)
class StoredKey:
    project_id: uuid.UUID
    secret_digest: str
    expires_at: datetime | None
    deleted_at: datetime | None
    llm_keys_version: int


class KeyLookup(Protocol):
    async def find(self, key_id: str) -> StoredKey | None: ...

    async def close(self) -> None: ...


class SQLiteKeyLookup:
    def __init__(self, path: str, *, kept_rows: int = 10_000) -> None:
        # check_same_thread=False: opened at startup, used on the event loop thread afterwards.
        # Not `mode=ro`: a read-only connection cannot open a WAL database whose shared-memory
        # file is gone; query_only gives the same safety. Autocommit: every read sees the latest
        # commit. A short timeout: this call runs on the event loop.
        self._connection = sqlite3.connect(
            path, check_same_thread=False, isolation_level=None, timeout=1.0
        )
        self._connection.execute("PRAGMA query_only = 1")
        # Keep the key index hot: with a million keys, the default 2 MiB page cache makes a
        # lookup of a key not seen lately cost ~2x a recent one. Memory-mapped reads also skip
        # a system call per page.
        self._connection.execute("PRAGMA cache_size = -65536")
        self._connection.execute("PRAGMA mmap_size = 268435456")
        # Rows read since the database last changed (unknown ids too, as None), at most
        # `kept_rows` of them: a flood of made-up key ids cannot grow it.
        self._kept: dict[str, StoredKey | None] = {}
        self._kept_rows = kept_rows
        self._kept_at_version: int | None = None

    async def find(self, key_id: str) -> StoredKey | None:
        version = self._connection.execute("PRAGMA data_version").fetchone()[0]
        if version != self._kept_at_version:
            self._kept.clear()
            self._kept_at_version = version
        elif key_id in self._kept:
            return self._kept[key_id]
        stored = self._read(key_id)
        if self._kept_rows:
            if len(self._kept) >= self._kept_rows:
                self._kept.clear()
            self._kept[key_id] = stored
        return stored

    def _read(self, key_id: str) -> StoredKey | None:
        row = self._connection.execute(_SQLITE_SELECT_KEY, (key_id,)).fetchone()
        if row is None:
            return None
        _, project, secret_digest, expires_at, deleted_at, llm_keys_version = row
        return StoredKey(
            project_id=uuid.UUID(project),
            secret_digest=secret_digest,
            expires_at=_sqlite_time(expires_at),
            deleted_at=_sqlite_time(deleted_at),
            llm_keys_version=llm_keys_version,
        )

    async def close(self) -> None:
        self._connection.close()


_Batch = dict[str, list[asyncio.Future["StoredKey | None"]]]


class PostgresKeyLookup:
    def __init__(self, engine: PostgresEngine, *, max_queries: int = 2) -> None:
        self._engine = engine
        self._max_queries = max_queries
        self._queries = 0
        # Lookups waiting for a query slot: key id -> the futures of everyone asking for it.
        self._waiting: _Batch = {}
        # Batches sent (or about to be), by the task answering them.
        self._answering: dict[asyncio.Task[None], _Batch] = {}
        self._closed = False

    async def find(self, key_id: str) -> StoredKey | None:
        if self._closed:
            raise db.DatabaseError("the key lookup is closed")
        if self._queries < self._max_queries:
            # Nobody is waiting whenever a slot is free, so this lookup goes alone, at once.
            self._queries += 1
            try:
                return (await self._read([key_id])).get(key_id)
            finally:
                self._query_done()
        # Each caller has its own future: one caller giving up does not cancel the others.
        answer: asyncio.Future[StoredKey | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key_id, []).append(answer)
        return await answer

    def _query_done(self) -> None:
        self._queries -= 1
        if not self._waiting:
            return
        batch, self._waiting = self._waiting, {}
        if self._closed:
            _fail(batch, db.DatabaseError("the key lookup was closed"))
            return
        self._queries += 1
        task = asyncio.create_task(self._answer(batch), name="api-key-lookup")
        self._answering[task] = batch
        task.add_done_callback(self._answering.pop)

    async def _answer(self, batch: _Batch) -> None:
        try:
            found = await self._read(list(batch))
        except Exception as error:
            _fail(batch, error)
        except BaseException:
            # Cancelled (closing) or worse: the waiters still get an answer, and the task ends.
            _fail(batch, db.DatabaseError("the key lookup was interrupted"))
            raise
        else:
            for key_id, answers in batch.items():
                stored = found.get(key_id)
                for answer in answers:
                    if not answer.done():
                        answer.set_result(stored)
        finally:
            self._query_done()

    async def _read(self, key_ids: list[str]) -> dict[str, StoredKey]:
        query, argument = (
            (_POSTGRES_SELECT_KEY, key_ids[0])
            if len(key_ids) == 1
            else (_POSTGRES_SELECT_KEYS, key_ids)
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
        return {
            row["id"]: StoredKey(
                project_id=row["project"],
                secret_digest=row["secret_digest"],
                expires_at=row["expires_at"],
                deleted_at=row["deleted_at"],
                llm_keys_version=row["llm_keys_version"],
            )
            for row in rows
        }

    async def close(self) -> None:
        """Refuse new lookups, and answer every waiting one with an error: a batch whose task
        never got to run would otherwise leave its callers waiting for good."""
        self._closed = True
        waiting, self._waiting = self._waiting, {}
        _fail(waiting, db.DatabaseError("the key lookup was closed"))
        answering = list(self._answering.items())
        for task, batch in answering:
            _fail(batch, db.DatabaseError("the key lookup was closed"))
            task.cancel()
        await asyncio.gather(*(task for task, _ in answering), return_exceptions=True)


def _fail(batch: _Batch, error: Exception) -> None:
    for answers in batch.values():
        for answer in answers:
            if not answer.done():
                answer.set_exception(error)


def open_lookup() -> KeyLookup:
    """The lookup for the active database; call after `db.start()`."""
    engine: Any = db.engine()
    if isinstance(engine, SQLiteEngine):
        return SQLiteKeyLookup(engine.path)
    if isinstance(engine, PostgresEngine):
        return PostgresKeyLookup(engine)
    raise db.DatabaseError(f"no key lookup for {type(engine).__name__}")


def _sqlite_time(value: str | None) -> datetime | None:
    # Piccolo stores Timestamptz on SQLite as ISO text with an offset.
    return datetime.fromisoformat(value) if value is not None else None
