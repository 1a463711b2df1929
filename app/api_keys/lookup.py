"""The hot path of key verification: one primary-key read, without the ORM.

Verification runs on every request made with a project key, so it bypasses the query builder:
- SQLite: one long-lived read-only connection, queried synchronously on the event loop. A
  primary-key read on a WAL database takes microseconds and never waits for writers, which is
  cheaper than Piccolo's thread-per-query connection by two orders of magnitude. Rows read are
  kept only while the database is unchanged: `PRAGMA data_version` changes whenever any other
  connection, in this process or another, commits anything, and the kept rows go then.
- PostgreSQL: one prepared statement on the pool, nothing kept.
Either way a key deleted by any process is refused on the very next request, on every process.
"""

from __future__ import annotations

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
_SELECT_KEY = (
    "SELECT k.project, k.secret_digest, k.expires_at, k.deleted_at, p.llm_keys_version "
    "FROM api_keys k JOIN projects p ON p.id = k.project WHERE k.id = {}"
)


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
        self._sql = _SELECT_KEY.format("?")
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
        row = self._connection.execute(self._sql, (key_id,)).fetchone()
        if row is None:
            return None
        project, secret_digest, expires_at, deleted_at, llm_keys_version = row
        return StoredKey(
            project_id=uuid.UUID(project),
            secret_digest=secret_digest,
            expires_at=_sqlite_time(expires_at),
            deleted_at=_sqlite_time(deleted_at),
            llm_keys_version=llm_keys_version,
        )

    async def close(self) -> None:
        self._connection.close()


class PostgresKeyLookup:
    def __init__(self, engine: PostgresEngine) -> None:
        self._engine = engine
        self._sql = _SELECT_KEY.format("$1")

    async def find(self, key_id: str) -> StoredKey | None:
        pool: asyncpg.Pool | None = self._engine.pool
        if pool is not None:
            row = await pool.fetchrow(self._sql, key_id)
        else:  # commands that run without a pool
            connection = await asyncpg.connect(**self._engine.config)
            try:
                row = await connection.fetchrow(self._sql, key_id)
            finally:
                await connection.close()
        if row is None:
            return None
        return StoredKey(
            project_id=row["project"],
            secret_digest=row["secret_digest"],
            expires_at=row["expires_at"],
            deleted_at=row["deleted_at"],
            llm_keys_version=row["llm_keys_version"],
        )

    async def close(self) -> None:
        return None


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
