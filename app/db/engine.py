"""The engine from settings, and the one transaction helper.

Piccolo binds tables to an engine lazily through `piccolo_conf`; `activate()` binds every table of
the app (and Piccolo's own migration table) to the engine built from settings, so one process can
serve SQLite or PostgreSQL - and the test suite can move between them.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from piccolo.apps.migrations.tables import Migration
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.query.mixins import LockStrength
from piccolo.table import Table

from app.db.errors import DatabaseError
from app.db.sqlite import SQLiteEngineWithSharedConnection
from app.settings import DatabaseConfig

PICCOLO_CONF_MODULE = "app.piccolo_conf"

_engine: Engine[Any] | None = None


def make_engine(config: DatabaseConfig) -> Engine[Any]:
    if config.engine == "sqlite":
        path = config.sqlite_path
        try:
            _private_file(path)
        except OSError as error:
            raise DatabaseError(f"cannot use the database at {config.url}: {error}") from None
        # timeout: how long a writer waits for the lock before "database is locked".
        return SQLiteEngineWithSharedConnection(path=str(path), timeout=30)
    return PostgresEngine(config=config.postgres_config())


def _private_file(path: Path) -> None:
    """Create the SQLite file (and the folders it needs) readable by its owner only, before
    SQLite opens it: SQLite gives its -wal and -shm files the database file's permissions. A file
    already there that others may read is tightened (it holds password hashes and provider
    ciphertexts)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        for existing in (path, *(path.with_name(path.name + end) for end in ("-wal", "-shm"))):
            if existing.exists() and existing.stat().st_mode & 0o077 and _owned(existing):
                existing.chmod(0o600)


def _owned(path: Path) -> bool:
    return path.stat().st_uid == os.getuid()


def activate(engine: Engine[Any]) -> None:
    """Make `engine` the one every table and every migration uses."""
    global _engine
    from app import piccolo_conf
    from app.piccolo_app import APP_CONFIG

    os.environ.setdefault("PICCOLO_CONF", PICCOLO_CONF_MODULE)
    piccolo_conf.DB = engine
    tables: list[type[Table]] = [*APP_CONFIG.table_classes, Migration]
    for table in tables:
        table._meta.db = engine
    _engine = engine


def engine() -> Engine[Any]:
    if _engine is None:
        raise DatabaseError("the database engine is not active; call app.db.activate() first")
    return _engine


def is_sqlite() -> bool:
    return isinstance(engine(), SQLiteEngine)


# Callbacks to run once the outermost transaction under way commits (see `after_commit`).
_committing: ContextVar[list[Callable[[], None]] | None] = ContextVar("committing", default=None)


@asynccontextmanager
async def transaction() -> AsyncIterator[None]:
    """The one way to write: every query inside runs in a single transaction.

    On SQLite, writes take the write lock up front (IMMEDIATE): a DEFERRED transaction that reads
    and then writes fails with "database is locked" under concurrency instead of waiting.
    """
    if _committing.get() is not None:  # nested: the outermost one commits
        async with _engine_transaction():
            yield
        return
    callbacks: list[Callable[[], None]] = []
    token = _committing.set(callbacks)
    try:
        async with _engine_transaction():
            yield
    finally:
        _committing.reset(token)
    for callback in callbacks:
        callback()


def after_commit(callback: Callable[[], None]) -> None:
    """Run `callback` once the transaction under way has committed (never if it rolls back); at
    once outside a transaction. For telling other work about rows it can now see."""
    callbacks = _committing.get()
    if callbacks is None:
        callback()
    else:
        callbacks.append(callback)


def _engine_transaction() -> Any:
    current = engine()
    if isinstance(current, SQLiteEngine):
        return current.transaction(transaction_type=TransactionType.immediate)
    return current.transaction()


async def lock_for_update(table: type[Table], row_id: object) -> None:
    """Serialise writers on one row until the transaction ends.

    PostgreSQL needs `SELECT ... FOR UPDATE` for read-check-write rules (e.g. "keep one owner");
    SQLite's IMMEDIATE transactions already admit one writer at a time.
    """
    # NO KEY UPDATE, the lock an UPDATE of ordinary columns takes: it excludes other writers and
    # sharers but lets inserts that merely reference the row (foreign keys) through.
    await _lock_row(table, row_id, LockStrength.no_key_update)


async def lock_for_share(table: type[Table], row_id: object) -> None:
    """Hold off `lock_for_update` on one row until the transaction ends, without holding off
    other sharers: many writes may rest on a fact that one rare change must not alter under
    them (a member's role while they create keys)."""
    await _lock_row(table, row_id, LockStrength.share)


async def _lock_row(table: type[Table], row_id: object, strength: LockStrength) -> None:
    if not is_sqlite():
        await (
            table.select(table._meta.primary_key)
            .where(table._meta.primary_key == row_id)
            .lock_rows(strength)
        )
