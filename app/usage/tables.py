"""Usage: one row per proxied request, written in batches off the request path."""

from piccolo.columns import UUID, Integer, Timestamptz, Varchar
from piccolo.table import Table


class UsageEvent(Table, tablename="usage_events"):
    # Plain ids rather than foreign keys: usage outlives deleted keys, and batched inserts should
    # not fail because a key was deleted a second earlier.
    id = UUID(primary_key=True)
    project_id = UUID(null=False)
    api_key_id = Varchar(length=16, null=False)
    provider = Varchar(length=32, null=True, default=None)
    model = Varchar(length=200, null=True, default=None)
    endpoint = Varchar(length=64, null=False)
    status = Integer(null=False)
    latency_ms = Integer(null=False)
    input_tokens = Integer(null=True, default=None)
    output_tokens = Integer(null=True, default=None)
    client_ip = Varchar(length=45, null=True, default=None)
    created_at = Timestamptz(null=False)
