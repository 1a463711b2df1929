"""Usage: one row per proxied request, written in batches off the request path."""

from piccolo.columns import JSON, UUID, BigInt, Integer, Timestamptz, Varchar
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
    # Set when the request was refused for a known key: revoked, expired or a wrong secret.
    auth_failure = Varchar(length=16, null=True, default=None)
    # Set when the key's policy refused the request (app/policies/enforcer.py).
    policy_refusal = Varchar(length=32, null=True, default=None)
    # What the tokens cost at the model's price, in millionths of a dollar; null: no price.
    cost_micros = BigInt(null=True, default=None)
    created_at = Timestamptz(null=False)


class UsageHourly(Table, tablename="usage_hourly"):
    """Per key and hour: what the charts and spike detection read. Kept after raw events expire."""

    id = UUID(primary_key=True)
    project_id = UUID(null=False)
    api_key_id = Varchar(length=16, null=False)
    hour_start = Timestamptz(null=False)
    requests = Integer(null=False, default=0)
    client_errors = Integer(null=False, default=0)
    server_errors = Integer(null=False, default=0)
    upstream_errors = Integer(null=False, default=0)
    auth_failures = Integer(null=False, default=0)
    input_tokens = Integer(null=False, default=0)
    output_tokens = Integer(null=False, default=0)
    # Spend at the models' prices, and the tokens of models without a price (not in the spend).
    cost_micros = BigInt(null=False, default=0)
    unpriced_tokens = BigInt(null=False, default=0)


class UsageProjectHourly(Table, tablename="usage_project_hourly"):
    """Per project and hour: the sums of its keys' rows, written with them in one transaction.

    A project's month by DAY reads 720 of these instead of summing one row per key and hour.
    Written ids (not a sequence, which every upsert would draw from) and 64-bit counters: a
    project's hour adds up all of its keys.
    """

    id = UUID(primary_key=True)
    project_id = UUID(null=False)
    hour_start = Timestamptz(null=False)
    requests = BigInt(null=False, default=0)
    client_errors = BigInt(null=False, default=0)
    server_errors = BigInt(null=False, default=0)
    upstream_errors = BigInt(null=False, default=0)
    auth_failures = BigInt(null=False, default=0)
    input_tokens = BigInt(null=False, default=0)
    output_tokens = BigInt(null=False, default=0)
    cost_micros = BigInt(null=False, default=0)
    unpriced_tokens = BigInt(null=False, default=0)


class KeyClientIp(Table, tablename="key_client_ips"):
    """Every address a key was used from: first and last time, and how often."""

    id = UUID(primary_key=True)
    project_id = UUID(null=False)
    api_key_id = Varchar(length=16, null=False)
    ip = Varchar(length=45, null=False)
    first_seen_at = Timestamptz(null=False)
    last_seen_at = Timestamptz(null=False)
    requests = Integer(null=False, default=0)


class SecurityAlert(Table, tablename="security_alerts"):
    id = UUID(primary_key=True)
    project_id = UUID(null=False)
    api_key_id = Varchar(length=16, null=False)
    kind = Varchar(length=32, null=False)
    # What makes two alerts the same condition (the IP, the hour, the day): one alert each.
    condition = Varchar(length=100, null=False)
    window_start = Timestamptz(null=False)
    window_end = Timestamptz(null=False)
    evidence = JSON(null=False, default="{}")
    created_at = Timestamptz(null=False)
    acknowledged_at = Timestamptz(null=True, default=None)
    acknowledged_by = UUID(null=True, default=None)
