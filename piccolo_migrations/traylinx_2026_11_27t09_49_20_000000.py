"""Usage queries read one project's (or one key's) events by time."""

from app.migration_helpers import raw_sql_migration

ID = "2026-11-27T09:49:20:000000"
VERSION = "1.38.0"
DESCRIPTION = "usage indexes"

STATEMENTS = (
    "CREATE INDEX IF NOT EXISTS usage_events_project_created_idx "
    "ON usage_events (project_id, created_at)",
    "CREATE INDEX IF NOT EXISTS usage_events_key_created_idx "
    "ON usage_events (api_key_id, created_at)",
)

forwards = raw_sql_migration(ID, DESCRIPTION, STATEMENTS)
