"""The indexes Piccolo cannot declare portably (composite ones fail on SQLite), after the tables
of the migration before this one exist."""

from app.migration_helpers import raw_sql_migration

ID = "2026-12-02T09:32:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "composite indexes"

STATEMENTS = (
    # One membership per person and project.
    'CREATE UNIQUE INDEX IF NOT EXISTS memberships_project_user_key ON memberships (project, "user")',
    # One provider key per provider and project.
    "CREATE UNIQUE INDEX IF NOT EXISTS llm_api_keys_project_provider_key "
    "ON llm_api_keys (project, provider)",
    # Lists, newest first, per project.
    "CREATE INDEX IF NOT EXISTS audit_events_project_created_idx "
    "ON audit_events (project_id, created_at)",
    "CREATE INDEX IF NOT EXISTS api_keys_project_created_idx ON api_keys (project, created_at)",
    "CREATE INDEX IF NOT EXISTS security_alerts_project_created_idx "
    "ON security_alerts (project_id, created_at)",
    # Raw events are only ever deleted by age.
    "CREATE INDEX IF NOT EXISTS usage_events_created_idx ON usage_events (created_at)",
    # The keys the usage upserts and alert inserts land on.
    "CREATE UNIQUE INDEX IF NOT EXISTS usage_hourly_key_hour_key "
    "ON usage_hourly (api_key_id, hour_start)",
    "CREATE INDEX IF NOT EXISTS usage_hourly_project_hour_idx "
    "ON usage_hourly (project_id, hour_start)",
    "CREATE UNIQUE INDEX IF NOT EXISTS usage_project_hourly_project_hour_key "
    "ON usage_project_hourly (project_id, hour_start)",
    "CREATE UNIQUE INDEX IF NOT EXISTS key_client_ips_key_ip_key "
    "ON key_client_ips (api_key_id, ip)",
    "CREATE UNIQUE INDEX IF NOT EXISTS security_alerts_condition_key "
    "ON security_alerts (api_key_id, kind, condition)",
    # The login throttle counts attempts per account and per address in a window.
    "CREATE INDEX IF NOT EXISTS login_attempts_account_time_idx "
    "ON login_attempts (email_digest, attempted_at)",
    "CREATE INDEX IF NOT EXISTS login_attempts_address_time_idx "
    "ON login_attempts (client_ip, attempted_at)",
)

forwards = raw_sql_migration(ID, DESCRIPTION, STATEMENTS)
