"""Keys that make usage upserts and one-alert-per-condition work, and listing indexes."""

from app.migration_helpers import raw_sql_migration

ID = "2026-11-27T10:18:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "usage aggregate keys and alert dedupe"

STATEMENTS = (
    "CREATE UNIQUE INDEX IF NOT EXISTS usage_hourly_key_hour_key "
    "ON usage_hourly (api_key_id, hour_start)",
    "CREATE INDEX IF NOT EXISTS usage_hourly_project_hour_idx "
    "ON usage_hourly (project_id, hour_start)",
    "CREATE UNIQUE INDEX IF NOT EXISTS key_client_ips_key_ip_key "
    "ON key_client_ips (api_key_id, ip)",
    "CREATE UNIQUE INDEX IF NOT EXISTS security_alerts_condition_key "
    "ON security_alerts (api_key_id, kind, condition)",
    "CREATE INDEX IF NOT EXISTS security_alerts_project_created_idx "
    "ON security_alerts (project_id, created_at)",
)

forwards = raw_sql_migration(ID, DESCRIPTION, STATEMENTS)
