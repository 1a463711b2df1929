"""Constraints and indexes Piccolo cannot declare portably.

Piccolo's composite `Unique` fails on SQLite, and raw statements run before a migration's own
tables are created, so these live in their own migration after the tables exist.
"""

from app.migration_helpers import raw_sql_migration

ID = "2026-11-27T09:26:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "composite unique and listing indexes"

STATEMENTS = (
    'CREATE UNIQUE INDEX IF NOT EXISTS memberships_project_user_key ON memberships (project, "user")',
    "CREATE INDEX IF NOT EXISTS audit_events_project_created_idx "
    "ON audit_events (project_id, created_at)",
)

forwards = raw_sql_migration(ID, DESCRIPTION, STATEMENTS)
