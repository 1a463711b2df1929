"""Per-project hourly usage: the key that makes its upserts work, and its rows for the usage
recorded before it existed (sums of the per-key rows, hour by hour).

Stop the processes of the previous version before the first one of this version starts: a batch
an old process writes after this backfill reaches only the per-key rows.
"""

from app.migration_helpers import raw_sql_migration

ID = "2026-11-27T14:35:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "usage per project and hour: key and backfill"

# A random (version 4) UUID per row, in SQL: SQLite has no function for it.
_SQLITE_UUID = (
    "lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || "
    "substr(hex(randomblob(2)), 2) || '-' || substr('89ab', 1 + abs(random()) % 4, 1) || "
    "substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))"
)

# (WHERE 1 = 1: SQLite needs a WHERE before an upsert's ON to parse INSERT ... SELECT.)
_BACKFILL = (
    "INSERT INTO usage_project_hourly (id, project_id, hour_start, requests, client_errors, "
    "server_errors, upstream_errors, auth_failures, input_tokens, output_tokens) "
    "SELECT {new_id}, project_id, hour_start, SUM(requests), SUM(client_errors), "
    "SUM(server_errors), SUM(upstream_errors), SUM(auth_failures), SUM(input_tokens), "
    "SUM(output_tokens) FROM usage_hourly WHERE 1 = 1 GROUP BY project_id, hour_start "
    "ON CONFLICT (project_id, hour_start) DO NOTHING"
)
BACKFILL = {
    "sqlite": _BACKFILL.format(new_id=_SQLITE_UUID),
    "postgres": _BACKFILL.format(new_id="gen_random_uuid()"),
}

STATEMENTS = (
    "CREATE UNIQUE INDEX IF NOT EXISTS usage_project_hourly_project_hour_key "
    "ON usage_project_hourly (project_id, hour_start)",
    BACKFILL,
)

forwards = raw_sql_migration(ID, DESCRIPTION, STATEMENTS)
