"""The webhook and notice indexes Piccolo cannot declare portably, after their tables exist."""

from app.migration_helpers import raw_sql_migration

ID = "2026-12-02T10:27:50:000000"
VERSION = "1.38.0"
DESCRIPTION = "webhook and notice indexes"

STATEMENTS = (
    # What the dispatcher asks for: pending deliveries that are due. Only pending rows are
    # indexed, so the index stays as small as the queue.
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_due_idx "
    "ON webhook_deliveries (next_attempt_at) WHERE status = 'PENDING'",
    # A webhook's delivery log, newest first.
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_webhook_created_idx "
    "ON webhook_deliveries (webhook, created_at)",
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_message_idx ON webhook_deliveries (message)",
    # Old messages go by age.
    "CREATE INDEX IF NOT EXISTS webhook_messages_created_idx ON webhook_messages (created_at)",
    # Each notice once.
    "CREATE UNIQUE INDEX IF NOT EXISTS notices_subject_kind_threshold_key "
    "ON notices (subject, kind, threshold)",
)

forwards = raw_sql_migration(ID, DESCRIPTION, STATEMENTS)
