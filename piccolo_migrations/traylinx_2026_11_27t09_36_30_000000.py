"""Listing index for project API keys (raw SQL runs before a migration's own tables exist)."""

from app.migration_helpers import raw_sql_migration

ID = "2026-11-27T09:36:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "api key listing index"

STATEMENTS = (
    "CREATE INDEX IF NOT EXISTS api_keys_project_created_idx "
    "ON api_keys (project, created_at)",
)

forwards = raw_sql_migration(ID, DESCRIPTION, STATEMENTS)
