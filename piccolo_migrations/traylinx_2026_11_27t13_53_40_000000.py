"""Login attempts are counted per account or address within a time window: indexes on both."""

from app.migration_helpers import raw_sql_migration

ID = "2026-11-27T13:53:40:000000"
VERSION = "1.38.0"
DESCRIPTION = "login attempt indexes"

STATEMENTS = (
    "CREATE INDEX IF NOT EXISTS login_attempts_account_time_idx "
    "ON login_attempts (email_digest, attempted_at)",
    "CREATE INDEX IF NOT EXISTS login_attempts_address_time_idx "
    "ON login_attempts (client_ip, attempted_at)",
)

forwards = raw_sql_migration(ID, DESCRIPTION, STATEMENTS)
