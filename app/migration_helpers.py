"""Building blocks for hand-written migrations.

Piccolo runs a migration's raw statements before it creates that migration's tables, so indexes
Piccolo cannot declare portably (composite unique indexes fail on SQLite) live in a migration of
their own, after the tables exist. Keep this stable: old migrations import it.
"""

from collections.abc import Awaitable, Callable, Mapping, Sequence

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.engine.sqlite import SQLiteEngine

# A statement the same on both engines, or {"sqlite": ..., "postgres": ...}.
Statement = str | Mapping[str, str]


def raw_sql_migration(
    migration_id: str, description: str, statements: Sequence[Statement]
) -> Callable[[], Awaitable[MigrationManager]]:
    """A migration's `forwards()` that runs `statements` in order (each must be idempotent)."""

    async def forwards() -> MigrationManager:
        manager = MigrationManager(
            migration_id=migration_id, app_name="traylinx", description=description
        )

        async def run() -> None:
            engine = engine_finder()
            if engine is None:
                raise RuntimeError("no database engine is configured")
            for statement in statements:
                await engine.run_ddl(for_engine(statement, engine))

        manager.add_raw(run)
        return manager

    return forwards


def for_engine(statement: Statement, engine: object) -> str:
    if isinstance(statement, str):
        return statement
    return statement["sqlite" if isinstance(engine, SQLiteEngine) else "postgres"]
