"""Listing index for project API keys (raw SQL runs before a migration's own tables exist)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-27T09:36:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "api key listing index"

STATEMENTS = (
    "CREATE INDEX IF NOT EXISTS api_keys_project_created_idx "
    "ON api_keys (project, created_at)",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="traylinx", description=DESCRIPTION)

    async def create_indexes():
        engine = engine_finder()
        for statement in STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(create_indexes)
    return manager
