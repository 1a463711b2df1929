"""Applying migrations, safely when several processes start at once."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from piccolo.apps.migrations.commands.base import BaseMigrationManager
from piccolo.apps.migrations.commands.forwards import run_forwards
from piccolo.apps.migrations.tables import Migration
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine

from app.db.engine import engine
from app.db.errors import DatabaseError, explained_failures

log = logging.getLogger(__name__)

# Any fixed number: it names the lock that serialises migrations across server processes.
_MIGRATION_LOCK_ID = 727_001


async def migrate() -> None:
    """Apply pending migrations; safe when several processes start at once."""
    current = engine()
    async with explained_failures(current), _migration_lock(current):
        await _refuse_unknown_history()
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            result = await run_forwards(app_name="all")
        for line in output.getvalue().splitlines():
            if line.strip():
                log.debug("migrate: %s", line.strip())
        if not result.success:
            raise DatabaseError(f"migrations failed: {result.message}")


async def _refuse_unknown_history() -> None:
    """A database whose applied migrations are not in this code's folder was made by other
    code: a pre-release build, whose migrations were folded into the first ones, or a newer
    version. Migrating it would fail halfway; say so instead."""
    from app.piccolo_app import APP_CONFIG

    if not await Migration.table_exists():
        return
    applied = await Migration.select(Migration.name).where(
        Migration.app_name == APP_CONFIG.app_name
    )
    folder = str(APP_CONFIG.migrations_folder_path)
    known = set(BaseMigrationManager().get_migration_modules(folder))
    unknown = sorted({row["name"] for row in applied} - known)
    if unknown:
        raise DatabaseError(
            f"this database has migrations this version does not know ({unknown[0]}, ...): it "
            "was made by a pre-release or a newer version. Point DATABASE_URL at a new database "
            "(in development: delete var/traylinx.sqlite3)."
        )


@asynccontextmanager
async def _migration_lock(current: Engine[Any]) -> AsyncIterator[None]:
    if not isinstance(current, PostgresEngine):
        yield
        return
    connection = await asyncpg.connect(**current.config)
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_ID)
        yield
    finally:
        with contextlib.suppress(Exception):
            await connection.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK_ID)
        await connection.close()
