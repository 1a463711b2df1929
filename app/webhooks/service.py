"""A project's webhook endpoints: registering, changing, testing them, and their delivery log.

Rights: OWNER and ADMIN, for reading too: an endpoint's URL can carry a token of the receiving
service (as chat tools' incoming-webhook URLs do). The signing secret is shown once, when the
endpoint is added and when it is rotated; it is kept sealed with the keyring because signing
needs it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from app import db
from app.audit.service import AuditService
from app.clock import Clock
from app.errors import InvalidInput, NotFound, ProblemCollector
from app.pagination import Page, PageRequest, SortOrder, keyset_page
from app.projects.access import AccessControl, Permission
from app.security.crypto import Keyring, MissingEncryptionKey
from app.security.principal import Principal
from app.settings import WebhookConfig
from app.webhooks.dispatcher import webhook_secret_context
from app.webhooks.egress import url_problem
from app.webhooks.events import DeliveryStatus, Outbox, WebhookEvent
from app.webhooks.signing import new_signing_secret
from app.webhooks.tables import Webhook, WebhookDelivery

MAX_WEBHOOKS_PER_PROJECT = 20
# After a rotation the previous secret signs too for this long, so receivers can move over.
SECRET_OVERLAP = timedelta(hours=24)


@dataclass(frozen=True)
class WebhookRecord:
    id: uuid.UUID
    project_id: uuid.UUID
    url: str
    events: tuple[WebhookEvent, ...]
    enabled: bool
    created_at: datetime
    updated_at: datetime
    failing_since: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None
    previous_secret_until: datetime | None


@dataclass(frozen=True)
class WebhookWithSecret:
    """A webhook just added or rotated, with its signing secret: shown this once."""

    webhook: WebhookRecord
    secret: str

    def __repr__(self) -> str:
        return f"WebhookWithSecret(webhook={self.webhook!r}, secret='**********')"


@dataclass(frozen=True)
class DeliveryRecord:
    id: uuid.UUID
    webhook_id: uuid.UUID
    message_id: str
    event: WebhookEvent
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    response_status: int | None
    response_ms: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True)
class WebhookChanges:
    """What updateWebhook changes; None leaves a field as it is."""

    url: str | None = None
    events: Sequence[WebhookEvent] | None = None
    enabled: bool | None = None


class WebhookService:
    def __init__(
        self,
        *,
        clock: Clock,
        access: AccessControl,
        audit: AuditService,
        keyring: Keyring,
        outbox: Outbox,
        config: WebhookConfig,
    ) -> None:
        self._clock = clock
        self._access = access
        self._audit = audit
        self._keyring = keyring
        self._outbox = outbox
        self._config = config

    async def add(
        self,
        principal: Principal,
        *,
        project_id: uuid.UUID,
        url: str,
        events: Sequence[WebhookEvent],
        enabled: bool = True,
    ) -> WebhookWithSecret:
        await self._authorize(principal, project_id, "add webhooks")
        problems = ProblemCollector()
        url = problems.check(lambda: self._valid_url(url), otherwise=url)
        events = problems.check(lambda: _valid_events(events), otherwise=events)
        problems.raise_if_any()
        now = self._clock.now()
        webhook_id = uuid.uuid4()
        secret = new_signing_secret()
        async with db.transaction():
            await self._authorize_write(principal, project_id, "add webhooks")
            if await Webhook.count().where(Webhook.project == project_id) >= (
                MAX_WEBHOOKS_PER_PROJECT
            ):
                raise InvalidInput.single(
                    "projectId",
                    f"A project has at most {MAX_WEBHOOKS_PER_PROJECT} webhooks; delete one first.",
                )
            await Webhook.insert(
                Webhook(
                    id=webhook_id,
                    project=project_id,
                    url=url,
                    events=[event.value for event in events],
                    enabled=enabled,
                    secret_ciphertext=self._seal(secret, webhook_id),
                    secret_key_id=self._keyring.newest_id,
                    created_at=now,
                    created_by=principal.user_id,
                    updated_at=now,
                )
            )
            record = await self._read(webhook_id)
            await self._audit_change(principal, "webhook.add", record)
        return WebhookWithSecret(webhook=record, secret=secret)

    async def update(
        self, principal: Principal, *, webhook_id: uuid.UUID, changes: WebhookChanges
    ) -> WebhookRecord:
        current = await self._managed(principal, webhook_id, "change webhooks")
        problems = ProblemCollector()
        url = changes.url
        if url is not None:
            checked_url = url
            url = problems.check(lambda: self._valid_url(checked_url), otherwise=url)
        events = changes.events
        if events is not None:
            checked_events = events
            events = problems.check(lambda: _valid_events(checked_events), otherwise=events)
        problems.raise_if_any()
        now = self._clock.now()
        values: dict[Any, Any] = {Webhook.updated_at: now}
        if url is not None:
            values[Webhook.url] = url
        if events is not None:
            values[Webhook.events] = [event.value for event in events]
        if changes.enabled is not None:
            values[Webhook.enabled] = changes.enabled
            if changes.enabled:
                # Enabled again: its failures start over.
                values.update(
                    {
                        Webhook.failing_since: None,
                        Webhook.disabled_at: None,
                        Webhook.disabled_reason: None,
                    }
                )
        async with db.transaction():
            await self._authorize_write(principal, current.project_id, "change webhooks")
            updated = (
                await Webhook.update(values).where(Webhook.id == webhook_id).returning(Webhook.id)
            )
            if not updated:
                raise _webhook_not_found()
            if changes.enabled is False:
                await _fail_pending(webhook_id, "the webhook was disabled")
            record = await self._read(webhook_id)
            await self._audit_change(
                principal,
                "webhook.update",
                record,
                changed=[
                    name
                    for name, value in (
                        ("url", url),
                        ("events", events),
                        ("enabled", changes.enabled),
                    )
                    if value is not None
                ],
            )
        return record

    async def delete(self, principal: Principal, *, webhook_id: uuid.UUID) -> uuid.UUID:
        current = await self._managed(principal, webhook_id, "delete webhooks")
        async with db.transaction():
            await self._authorize_write(principal, current.project_id, "delete webhooks")
            deleted = await Webhook.delete().where(Webhook.id == webhook_id).returning(Webhook.id)
            if not deleted:
                raise _webhook_not_found()
            await self._audit_change(principal, "webhook.delete", current)
        return webhook_id

    async def rotate_secret(
        self, principal: Principal, *, webhook_id: uuid.UUID
    ) -> WebhookWithSecret:
        """A new signing secret, shown once; the previous one signs too for 24 hours."""
        current = await self._managed(principal, webhook_id, "rotate webhook secrets")
        now = self._clock.now()
        secret = new_signing_secret()
        async with db.transaction():
            await self._authorize_write(principal, current.project_id, "rotate webhook secrets")
            row = (
                await Webhook.select(Webhook.secret_ciphertext)
                .where(Webhook.id == webhook_id)
                .first()
            )
            if row is None:
                raise _webhook_not_found()
            await Webhook.update(
                {
                    Webhook.previous_secret_ciphertext: row["secret_ciphertext"],
                    Webhook.previous_secret_until: now + SECRET_OVERLAP,
                    Webhook.secret_ciphertext: self._seal(secret, webhook_id),
                    Webhook.secret_key_id: self._keyring.newest_id,
                    Webhook.updated_at: now,
                }
            ).where(Webhook.id == webhook_id)
            record = await self._read(webhook_id)
            await self._audit_change(principal, "webhook.rotate_secret", record)
        return WebhookWithSecret(webhook=record, secret=secret)

    async def send_test(self, principal: Principal, *, webhook_id: uuid.UUID) -> DeliveryRecord:
        """Queue a `webhook.test` message to this endpoint (enabled or not); tried once."""
        current = await self._managed(principal, webhook_id, "send test webhooks")
        now = self._clock.now()
        async with db.transaction():
            message_id = await self._outbox.publish(
                current.project_id,
                WebhookEvent.WEBHOOK_TEST,
                {"webhookId": str(webhook_id)},
                now=now,
                only_webhook=webhook_id,
            )
            row = (
                await WebhookDelivery.select().where(WebhookDelivery.message == message_id).first()
            )
        if row is None:
            raise _webhook_not_found()
        return _delivery(row)

    async def webhooks(self, principal: Principal, project_id: uuid.UUID) -> list[WebhookRecord]:
        await self._access.authorize(
            principal, project_id, Permission.READ_WEBHOOKS, action="see webhooks"
        )
        rows = (
            await Webhook.select(*_RECORD_COLUMNS)
            .where(Webhook.project == project_id)
            .order_by(Webhook.created_at, Webhook.id)  # the id: one order for equal times
        )
        return [_record(row) for row in rows]

    async def webhook(
        self, principal: Principal, project_id: uuid.UUID, webhook_id: uuid.UUID
    ) -> WebhookRecord | None:
        await self._access.authorize(
            principal, project_id, Permission.READ_WEBHOOKS, action="see webhooks"
        )
        row = (
            await Webhook.select(*_RECORD_COLUMNS)
            .where((Webhook.project == project_id) & (Webhook.id == webhook_id))
            .first()
        )
        return _record(row) if row else None

    async def deliveries(
        self, principal: Principal, webhook_id: uuid.UUID, page: PageRequest
    ) -> Page[DeliveryRecord]:
        """A webhook's deliveries, newest first."""
        current = await self._find(webhook_id)
        await self._access.authorize(
            principal,
            current.project_id,
            Permission.READ_WEBHOOKS,
            action="see webhooks",
            missing=_webhook_not_found(),
        )
        where = WebhookDelivery.webhook == webhook_id
        return await keyset_page(
            WebhookDelivery.select().where(where),
            WebhookDelivery.count().where(where),
            page,
            SortOrder(WebhookDelivery.created_at),
            WebhookDelivery.id,
            _delivery,
        )

    # --- The keyring -----------------------------------------------------------------------

    async def check_keyring(self) -> None:
        """Raise MissingEncryptionKey when a stored signing secret needs a key the keyring
        lacks."""
        rows = await Webhook.select(Webhook.secret_key_id).distinct()
        for row in rows:
            if row["secret_key_id"] not in self._keyring.ids:
                raise MissingEncryptionKey(row["secret_key_id"])

    async def rotate_encryption(self) -> int:
        """Re-seal every signing secret under the keyring's newest key; how many were."""
        newest = self._keyring.newest_id
        rows = await Webhook.select(
            Webhook.id, Webhook.secret_ciphertext, Webhook.previous_secret_ciphertext
        ).where(Webhook.secret_key_id != newest)
        for row in rows:
            context = webhook_secret_context(row["id"])
            values: dict[Any, Any] = {
                Webhook.secret_ciphertext: self._keyring.encrypt(
                    self._keyring.decrypt(row["secret_ciphertext"], context), context
                ),
                Webhook.secret_key_id: newest,
            }
            if row["previous_secret_ciphertext"]:
                values[Webhook.previous_secret_ciphertext] = self._keyring.encrypt(
                    self._keyring.decrypt(row["previous_secret_ciphertext"], context), context
                )
            async with db.transaction():
                await Webhook.update(values).where(
                    (Webhook.id == row["id"])
                    & (Webhook.secret_ciphertext == row["secret_ciphertext"])
                )
        return len(rows)

    # --- Helpers ---------------------------------------------------------------------------

    def _valid_url(self, url: str) -> str:
        url = url.strip()
        problem = url_problem(url, allow_private=self._config.allow_private_networks)
        if problem:
            raise InvalidInput.single("url", f"The URL {problem}.")
        return url

    def _seal(self, secret: str, webhook_id: uuid.UUID) -> str:
        return self._keyring.encrypt(secret, webhook_secret_context(webhook_id))

    async def _authorize(self, principal: Principal, project_id: uuid.UUID, action: str) -> None:
        await self._access.authorize(
            principal, project_id, Permission.MANAGE_WEBHOOKS, action=action
        )

    async def _authorize_write(
        self, principal: Principal, project_id: uuid.UUID, action: str
    ) -> None:
        await self._access.authorize_write(
            principal,
            project_id,
            Permission.MANAGE_WEBHOOKS,
            action=action,
            missing=_webhook_not_found(),
        )

    async def _managed(
        self, principal: Principal, webhook_id: uuid.UUID, action: str
    ) -> WebhookRecord:
        current = await self._find(webhook_id)
        await self._access.authorize(
            principal,
            current.project_id,
            Permission.MANAGE_WEBHOOKS,
            action=action,
            missing=_webhook_not_found(),
        )
        return current

    async def _find(self, webhook_id: uuid.UUID) -> WebhookRecord:
        row = await Webhook.select(*_RECORD_COLUMNS).where(Webhook.id == webhook_id).first()
        if row is None:
            raise _webhook_not_found()
        return _record(row)

    async def _read(self, webhook_id: uuid.UUID) -> WebhookRecord:
        return await self._find(webhook_id)

    async def _audit_change(
        self, principal: Principal, action: str, webhook: WebhookRecord, **extra: Any
    ) -> None:
        # The host only: a URL's path or query can hold the receiver's own token.
        await self._audit.record(
            principal,
            action=action,
            target_type="webhook",
            target_id=str(webhook.id),
            project_id=webhook.project_id,
            details={
                "host": httpx.URL(webhook.url).host,
                "events": [event.value for event in webhook.events],
                **extra,
            },
        )


_RECORD_COLUMNS = (
    Webhook.id,
    Webhook.project,
    Webhook.url,
    Webhook.events,
    Webhook.enabled,
    Webhook.created_at,
    Webhook.updated_at,
    Webhook.failing_since,
    Webhook.disabled_at,
    Webhook.disabled_reason,
    Webhook.previous_secret_until,
)


def _valid_events(events: Sequence[WebhookEvent]) -> tuple[WebhookEvent, ...]:
    if not events:
        raise InvalidInput.single("events", "Choose at least one event.")
    if WebhookEvent.WEBHOOK_TEST in events:
        raise InvalidInput.single(
            "events", "WEBHOOK_TEST is sent by sendTestWebhook; it cannot be subscribed to."
        )
    return tuple(dict.fromkeys(events))


async def _fail_pending(webhook_id: uuid.UUID, reason: str) -> None:
    await WebhookDelivery.update(
        {
            WebhookDelivery.status: DeliveryStatus.FAILED.value,
            WebhookDelivery.next_attempt_at: None,
            WebhookDelivery.last_error: reason,
        }
    ).where(
        (WebhookDelivery.webhook == webhook_id)
        & (WebhookDelivery.status == DeliveryStatus.PENDING.value)
        & WebhookDelivery.claimed_by.is_null()
    )


def _webhook_not_found() -> NotFound:
    return NotFound("Webhook not found.", field=("id",))


def _record(row: dict[str, Any]) -> WebhookRecord:
    return WebhookRecord(
        id=row["id"],
        project_id=row["project"],
        url=row["url"],
        events=tuple(WebhookEvent(event) for event in db.json_value(row["events"])),
        enabled=bool(row["enabled"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        failing_since=row["failing_since"],
        disabled_at=row["disabled_at"],
        disabled_reason=row["disabled_reason"],
        previous_secret_until=row["previous_secret_until"],
    )


def _delivery(row: dict[str, Any]) -> DeliveryRecord:
    return DeliveryRecord(
        id=row["id"],
        webhook_id=row["webhook"],
        message_id=row["message"],
        event=WebhookEvent(row["event"]),
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_attempt_at=row["last_attempt_at"],
        response_status=row["response_status"],
        response_ms=row["response_ms"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        delivered_at=row["delivered_at"],
    )
