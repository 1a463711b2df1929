"""Project API keys: only a digest of each secret is kept."""

from piccolo.columns import JSON, UUID, ForeignKey, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from app.projects.tables import Project


class ApiKey(Table, tablename="api_keys"):
    # The key id embedded in the key itself: verification is one primary-key lookup.
    id = Varchar(length=16, primary_key=True)
    project = ForeignKey(references=Project, null=False, on_delete=OnDelete.cascade)
    note = Varchar(length=200, null=False)
    start = Varchar(length=16, null=False)
    secret_digest = Varchar(length=64, null=False, secret=True)
    created_at = Timestamptz(null=False)
    created_by = UUID(null=True, default=None)
    expires_at = Timestamptz(null=True, default=None)
    last_used_at = Timestamptz(null=True, default=None)
    last_used_ip = Varchar(length=45, null=True, default=None)
    # Deleted keys stay (revoked) so a request still presenting one can be recognised as such.
    deleted_at = Timestamptz(null=True, default=None)
    # What the key may do (app/api_keys/policy.py); keys made before policies keep both scopes.
    policy = JSON(null=False, default={"scopes": ["PROXY", "READ"]})
    # Set on a key rotated with a grace period: the id of the key that replaces it.
    replaced_by = Varchar(length=16, null=True, default=None)
