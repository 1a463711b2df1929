"""One LLM key per provider and project (raw SQL: Piccolo's composite Unique fails on SQLite)."""

from app.migration_helpers import raw_sql_migration

ID = "2026-11-27T09:44:40:000000"
VERSION = "1.38.0"
DESCRIPTION = "llm key uniqueness"

STATEMENTS = (
    "CREATE UNIQUE INDEX IF NOT EXISTS llm_api_keys_project_provider_key "
    "ON llm_api_keys (project, provider)",
)

forwards = raw_sql_migration(ID, DESCRIPTION, STATEMENTS)
