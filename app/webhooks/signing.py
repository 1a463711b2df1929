"""Standard Webhooks signatures, made with the specification's own library."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks import Webhook as StandardWebhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_signing_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signed_headers(
    message_id: str, sent_at: datetime, payload: str, secrets_in_use: Sequence[str]
) -> dict[str, str]:
    """The three headers of the specification; one signature per secret in use (the current
    one, and the previous one while a rotation settles), space-separated as it allows."""
    signatures = " ".join(
        StandardWebhook(secret).sign(message_id, sent_at, payload) for secret in secrets_in_use
    )
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signatures,
    }
