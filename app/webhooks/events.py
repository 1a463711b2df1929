"""The events a project's webhooks can receive, and the outbox that records them.

`publish()` runs inside the transaction of the change it reports: the message and one delivery
per endpoint that asked for the event are stored exactly when the change is, so a crash, a
restart or an outage between the two can neither lose a message nor invent one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

from app import db
from app.webhooks.tables import Webhook, WebhookDelivery, WebhookMessage


class WebhookEvent(StrEnum):
    SECURITY_ALERT_RAISED = "SECURITY_ALERT_RAISED"
    KEY_LEAKED = "KEY_LEAKED"
    KEY_EXPIRES_SOON = "KEY_EXPIRES_SOON"
    KEY_ROTATION_DUE = "KEY_ROTATION_DUE"
    BUDGET_THRESHOLD_REACHED = "BUDGET_THRESHOLD_REACHED"
    API_KEY_CREATED = "API_KEY_CREATED"
    API_KEY_DELETED = "API_KEY_DELETED"
    LLM_API_KEY_CHANGED = "LLM_API_KEY_CHANGED"
    # Sent by sendTestWebhook to the one endpoint asked; no endpoint subscribes to it.
    WEBHOOK_TEST = "WEBHOOK_TEST"

    @property
    def type(self) -> str:
        """The payload's `type`, in the Standard Webhooks dotted style."""
        return _TYPES[self]


_TYPES = {
    WebhookEvent.SECURITY_ALERT_RAISED: "security_alert.raised",
    WebhookEvent.KEY_LEAKED: "api_key.leaked",
    WebhookEvent.KEY_EXPIRES_SOON: "api_key.expires_soon",
    WebhookEvent.KEY_ROTATION_DUE: "api_key.rotation_due",
    WebhookEvent.BUDGET_THRESHOLD_REACHED: "budget.threshold_reached",
    WebhookEvent.API_KEY_CREATED: "api_key.created",
    WebhookEvent.API_KEY_DELETED: "api_key.deleted",
    WebhookEvent.LLM_API_KEY_CHANGED: "llm_api_key.changed",
    WebhookEvent.WEBHOOK_TEST: "webhook.test",
}

SUBSCRIBABLE = frozenset(WebhookEvent) - {WebhookEvent.WEBHOOK_TEST}


class DeliveryStatus(StrEnum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


def message_payload(event: WebhookEvent, data: dict[str, Any], now: datetime) -> str:
    """The body, as the Standard Webhooks specification lays it out. `data` holds ids and
    non-secret facts only."""
    timestamp = now.isoformat().replace("+00:00", "Z")
    return json.dumps(
        {"type": event.type, "timestamp": timestamp, "data": data}, separators=(",", ":")
    )


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


class Outbox:
    """Where changes leave their events; `on_queued` hears of new deliveries after commit."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []

    def on_queued(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    async def publish(
        self,
        project_id: uuid.UUID,
        event: WebhookEvent,
        data: dict[str, Any],
        *,
        now: datetime,
        only_webhook: uuid.UUID | None = None,
    ) -> str | None:
        """Queue `event` for the project's enabled endpoints that asked for it (or for
        `only_webhook`, whatever it asked for); the message id, or None when none listens. Call
        inside the change's transaction."""
        targets = await _listening(project_id, event, only_webhook)
        if not targets:
            return None
        message_id = new_message_id()
        payload = message_payload(event, {"projectId": str(project_id), **data}, now)
        await WebhookMessage.insert(
            WebhookMessage(
                id=message_id,
                project_id=project_id,
                event=event.value,
                payload=payload,
                created_at=now,
            )
        )
        await WebhookDelivery.insert(
            *(
                WebhookDelivery(
                    id=uuid.uuid4(),
                    webhook=webhook_id,
                    message=message_id,
                    event=event.value,
                    status=DeliveryStatus.PENDING.value,
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
                for webhook_id in targets
            )
        )
        db.after_commit(self._tell_listeners)
        return message_id

    def _tell_listeners(self) -> None:
        for listener in self._listeners:
            listener()


async def _listening(
    project_id: uuid.UUID, event: WebhookEvent, only_webhook: uuid.UUID | None
) -> list[uuid.UUID]:
    if only_webhook is not None:
        return [only_webhook]
    rows = await Webhook.select(Webhook.id, Webhook.events).where(
        (Webhook.project == project_id) & (Webhook.enabled == True)  # noqa: E712
    )
    return [db.uuid_value(row["id"]) for row in rows if event.value in db.json_value(row["events"])]
