"""Raw usage events are written in bulk and read only by the retention delete (by time).

The per-key and per-project indexes cost half the ingest time on SQLite and served no query.
"""

from app.migration_helpers import raw_sql_migration

ID = "2026-11-27T11:15:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "usage events indexed by time only"

STATEMENTS = (
    "DROP INDEX IF EXISTS usage_events_key_created_idx",
    "DROP INDEX IF EXISTS usage_events_project_created_idx",
    "CREATE INDEX IF NOT EXISTS usage_events_created_idx ON usage_events (created_at)",
)

forwards = raw_sql_migration(ID, DESCRIPTION, STATEMENTS)
