"""Webhooks: a project's endpoints, the messages its events make, and their deliveries.

A message is written in the transaction of the change it reports (the outbox), with one delivery
row per endpoint that asked for its event; the dispatcher sends deliveries off the request path.
"""

from piccolo.columns import (
    JSON,
    UUID,
    Boolean,
    ForeignKey,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from app.projects.tables import Project


class Webhook(Table, tablename="webhooks"):
    id = UUID(primary_key=True)
    project = ForeignKey(references=Project, null=False, on_delete=OnDelete.cascade, index=True)
    url = Varchar(length=2048, null=False)
    # Event names (WebhookEvent values) this endpoint receives.
    events = JSON(null=False, default="[]")
    enabled = Boolean(null=False, default=True)
    # The signing secret, sealed with the keyring (we sign with it, so it cannot be a digest).
    secret_ciphertext = Text(null=False, secret=True)
    secret_key_id = Varchar(length=32, null=False)
    # After a rotation the previous secret signs too, until this time, so receivers can switch.
    previous_secret_ciphertext = Text(null=True, default=None, secret=True)
    previous_secret_until = Timestamptz(null=True, default=None)
    created_at = Timestamptz(null=False)
    created_by = UUID(null=True, default=None)
    updated_at = Timestamptz(null=False)
    # Since when every attempt has failed (None after a success): disabled after 3 days of it.
    failing_since = Timestamptz(null=True, default=None)
    disabled_at = Timestamptz(null=True, default=None)
    disabled_reason = Varchar(length=200, null=True, default=None)


class WebhookMessage(Table, tablename="webhook_messages"):
    # The `webhook-id` header: the same for every endpoint and every attempt.
    id = Varchar(length=40, primary_key=True)
    project_id = UUID(null=False)
    event = Varchar(length=40, null=False)
    # The body exactly as sent and signed.
    payload = Text(null=False)
    created_at = Timestamptz(null=False)


class WebhookDelivery(Table, tablename="webhook_deliveries"):
    id = UUID(primary_key=True)
    webhook = ForeignKey(references=Webhook, null=False, on_delete=OnDelete.cascade)
    message = ForeignKey(references=WebhookMessage, null=False, on_delete=OnDelete.cascade)
    event = Varchar(length=40, null=False)
    # PENDING until it succeeds (SUCCEEDED) or its retries are over (FAILED).
    status = Varchar(length=16, null=False)
    attempts = Integer(null=False, default=0)
    next_attempt_at = Timestamptz(null=True, default=None)
    # A process sending it holds it until then; a process that died lets it go by itself.
    claimed_until = Timestamptz(null=True, default=None)
    claimed_by = Varchar(length=100, null=True, default=None)
    last_attempt_at = Timestamptz(null=True, default=None)
    response_status = Integer(null=True, default=None)
    response_ms = Integer(null=True, default=None)
    # Why the last attempt failed, in words without secrets ("connection refused", "HTTP 500").
    last_error = Varchar(length=200, null=True, default=None)
    created_at = Timestamptz(null=False)
    delivered_at = Timestamptz(null=True, default=None)


class Notice(Table, tablename="notices"):
    """Things to tell once: a key nearing its expiry, a budget past 80 %. The unique
    (subject, kind, threshold) makes telling twice a no-op, whichever process tries."""

    id = UUID(primary_key=True)
    subject = Varchar(length=100, null=False)
    kind = Varchar(length=40, null=False)
    threshold = Varchar(length=64, null=False)
    created_at = Timestamptz(null=False)
