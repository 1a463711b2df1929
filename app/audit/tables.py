"""The audit trail: who did what to which object, from where, and when."""

from piccolo.columns import JSON, UUID, Timestamptz, Varchar
from piccolo.table import Table


class AuditEvent(Table, tablename="audit_events"):
    # Plain ids rather than foreign keys: the trail must outlive the objects it talks about.
    id = UUID(primary_key=True)
    project_id = UUID(null=True, default=None)
    actor_user_id = UUID(null=True, default=None)
    actor_api_key_id = Varchar(length=64, null=True, default=None)
    # A part of the service acting on its own (the leak scanner, GitHub's reports, webhooks).
    actor_system = Varchar(length=40, null=True, default=None)
    action = Varchar(length=64, null=False)
    target_type = Varchar(length=32, null=False)
    target_id = Varchar(length=64, null=False)
    # Non-secret facts about the change, e.g. {"note": "CI pipeline"}.
    details = JSON(null=False, default="{}")
    client_ip = Varchar(length=45, null=True, default=None)
    created_at = Timestamptz(null=False)
