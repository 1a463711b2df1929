"""Opening and closing a process's connections, and health."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import asyncpg
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from app.db.engine import engine
from app.db.errors import explained_failures
from app.db.migrations import migrate
from app.db.sqlite import SQLiteEngineWithSharedConnection

log = logging.getLogger(__name__)

# asyncpg's default; a smaller pool_max_size lowers it, as asyncpg refuses a minimum above it.
_POOL_MIN_SIZE = 10


async def start(pool_max_size: int = 10) -> None:
    """Prepare the database for serving: pragmas, migrations, then the connections."""
    current = engine()
    async with explained_failures(current):
        if isinstance(current, SQLiteEngine):
            await current.run_ddl("PRAGMA journal_mode=WAL")
        await migrate()
        await _open_connections(current, pool_max_size)


async def connect(pool_max_size: int) -> None:
    """Open the connections of a process that writes to a database another one prepared."""
    current = engine()
    async with explained_failures(current):
        await _open_connections(current, pool_max_size)


async def _open_connections(current: Engine[Any], pool_max_size: int) -> None:
    if isinstance(current, SQLiteEngineWithSharedConnection):
        current.open_shared_connection()
        current.keep_writers()
    if isinstance(current, PostgresEngine) and current.pool is None:
        # No reset query on release: it costs a round trip per query, and nothing here
        # changes session state (asyncpg still rolls back a transaction left open).
        await current.start_connection_pool(
            min_size=min(pool_max_size, _POOL_MIN_SIZE),
            max_size=pool_max_size,
            reset=_keep_session,
        )


async def stop() -> None:
    current = engine()
    if isinstance(current, SQLiteEngineWithSharedConnection):
        current.close_shared_connection()
        await current.close_writers()
    if isinstance(current, PostgresEngine) and current.pool is not None:
        await current.close_connection_pool()


async def _keep_session(connection: asyncpg.Connection) -> None:
    return None


async def ping() -> bool:
    """True when the database answers a trivial query."""
    try:
        rows: Any = await engine().run_ddl("SELECT 1 AS ok")
    except (OSError, sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        log.warning("database ping failed: %s", type(error).__name__)
        return False
    return bool(rows)
