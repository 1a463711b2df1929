"""Sending queued deliveries, off the request path, from every serving process at once.

Each process claims a batch of due deliveries with one conditional UPDATE (on PostgreSQL over
`FOR UPDATE SKIP LOCKED`, so processes take different rows instead of queueing on the same
ones), sends them, and records each outcome. A claim lasts a little longer than an attempt can;
a process that dies mid-delivery lets its claims lapse and another sends them again, with the
same `webhook-id`, which is what the Standard Webhooks retry rules allow.

A process sends what it queued itself at once (the outbox tells it after commit) and polls for
what other processes (or the usage writer) queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from app import db, leases
from app.audit.service import AuditService
from app.clock import Clock
from app.security.crypto import CryptoError, Keyring
from app.security.principal import Principal
from app.settings import WebhookConfig
from app.webhooks.egress import Attempt, WebhookSender
from app.webhooks.events import DeliveryStatus, WebhookEvent
from app.webhooks.signing import signed_headers
from app.webhooks.tables import Webhook, WebhookDelivery, WebhookMessage

log = logging.getLogger(__name__)

# After attempt n fails, the next waits RETRY_DELAYS[n - 1] (the last one repeating), give or
# take a fifth, and never past RETRY_WINDOW after the event: the last attempt is at its end.
RETRY_DELAYS = (
    timedelta(seconds=10),
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
)
RETRY_WINDOW = timedelta(hours=24)
JITTER = 0.2
# An endpoint whose every attempt has failed for this long is disabled.
DISABLE_AFTER = timedelta(days=3)
CLAIM_BATCH = 50
SYSTEM_ACTOR = "webhooks"


def next_attempt_at(
    attempts: int, created_at: datetime, now: datetime, rng: random.Random
) -> datetime | None:
    """When to try again after `attempts` failed attempts, or None when the window is over."""
    deadline = created_at + RETRY_WINDOW
    if now >= deadline:
        return None
    delay = RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]
    return min(now + delay * rng.uniform(1 - JITTER, 1 + JITTER), deadline)


@dataclass(frozen=True)
class _Claimed:
    id: uuid.UUID
    webhook_id: uuid.UUID
    message_id: str
    event: WebhookEvent
    attempts: int
    created_at: datetime


@dataclass(frozen=True)
class _Outcome:
    delivery: _Claimed
    endpoint: _Endpoint
    attempt: Attempt


@dataclass(frozen=True)
class _Endpoint:
    id: uuid.UUID
    project_id: uuid.UUID
    url: str
    secrets: tuple[str, ...]
    # Why it cannot be signed for (its secret does not open with this keyring), if so.
    problem: str | None = None


# Due, and not held by a live claim. The outer WHERE repeats the condition: on PostgreSQL a row
# another claim took between the subquery and the update is re-checked there.
_CLAIM = """
UPDATE webhook_deliveries
SET claimed_until = {}, claimed_by = {}, attempts = attempts + 1, last_attempt_at = {}
WHERE id IN (
    SELECT id FROM webhook_deliveries
    WHERE status = 'PENDING' AND next_attempt_at <= {}
      AND (claimed_until IS NULL OR claimed_until < {})
    ORDER BY next_attempt_at LIMIT {} %s
) AND status = 'PENDING' AND (claimed_until IS NULL OR claimed_until < {})
RETURNING id, webhook, message, event, attempts, created_at
"""


_RECORD = (
    "UPDATE webhook_deliveries SET status = {}, next_attempt_at = {}, response_status = {}, "
    "response_ms = {}, last_error = {}, delivered_at = {}, claimed_until = NULL, "
    "claimed_by = NULL WHERE id = {} AND claimed_by = {}"
)

# 'PENDING' as a literal, so that PostgreSQL plans it on the partial index of pending rows.
_ANY_DUE = (
    "SELECT 1 FROM webhook_deliveries WHERE status = 'PENDING' AND next_attempt_at <= {} LIMIT 1"
)


class WebhookDispatcher:
    def __init__(
        self,
        *,
        clock: Clock,
        keyring: Keyring,
        config: WebhookConfig,
        audit: AuditService,
        chores: Sequence[Callable[[], Any]] = (),
        rng: random.Random | None = None,
    ) -> None:
        self._clock = clock
        self._keyring = keyring
        self._config = config
        self._audit = audit
        self._chores = chores
        # Jitter only spreads retries out; nothing about it needs to be unpredictable.
        self._rng = rng or random.Random()  # noqa: S311
        self._holder = leases.new_holder()
        self._sender: WebhookSender | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        self.failed_attempts = 0

    @property
    def claim_duration(self) -> timedelta:
        # Longer than one attempt can take (and then its recording), so a live sender keeps its
        # claim; a dead one's lapses soon after.
        return timedelta(seconds=self._config.timeout + 2)

    def wake(self) -> None:
        """New deliveries are committed: look now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._sender = self._new_sender()
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="webhook-dispatcher")

    async def stop(self) -> None:
        """Let the round under way finish (a cancelled transaction would hold its connection),
        bounded by how long an attempt may take; claims not recorded lapse and are sent again."""
        if self._task is not None:
            self._stopping.set()
            self._wake.set()
            try:
                async with asyncio.timeout(self._config.timeout + 5):
                    await asyncio.shield(self._task)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        if self._sender is not None:
            await self._sender.close()
            self._sender = None

    async def _run(self) -> None:
        failing = False
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                for chore in self._chores:
                    await chore()
                sent = await self.send_due()
                failing = False
            except Exception as error:
                if not failing:
                    log.warning("webhook deliveries paused: %s", type(error).__name__)
                failing = True
                sent = 0
            if sent >= CLAIM_BATCH or self._stopping.is_set():
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._config.poll_every):
                    await self._wake.wait()

    async def send_due(self) -> int:
        """Claim due deliveries, send them, record what came of them (in one transaction for
        the batch); how many were attempted."""
        sender = self._sender or self._new_sender()
        try:
            claimed = await self._claim(self._clock.now())
            if not claimed:
                return 0
            endpoints, payloads = await self._load(claimed)
            gate = asyncio.Semaphore(self._config.concurrency)

            async def one(delivery: _Claimed) -> _Outcome | None:
                async with gate:
                    return await self._deliver(sender, delivery, endpoints, payloads)

            outcomes = await asyncio.gather(*(one(delivery) for delivery in claimed))
            await self._record([outcome for outcome in outcomes if outcome is not None])
            return len(claimed)
        finally:
            if sender is not self._sender:
                await sender.close()

    def _new_sender(self) -> WebhookSender:
        return WebhookSender(
            allow_private=self._config.allow_private_networks,
            connect_timeout=self._config.connect_timeout,
            total_timeout=self._config.timeout,
            max_connections=self._config.concurrency,
        )

    async def _claim(self, now: datetime) -> list[_Claimed]:
        # A read first: an idle queue costs no write transaction (on SQLite, no write lock).
        if not await WebhookDelivery.raw(_ANY_DUE, now):
            return []
        skip_locked = "" if db.is_sqlite() else "FOR UPDATE SKIP LOCKED"
        async with db.transaction():
            rows = await db.fetch(
                _CLAIM % skip_locked,
                now + self.claim_duration,
                self._holder,
                now,
                now,
                now,
                CLAIM_BATCH,
                now,
            )
        return [
            _Claimed(
                id=db.uuid_value(row["id"]),
                webhook_id=db.uuid_value(row["webhook"]),
                message_id=row["message"],
                event=WebhookEvent(row["event"]),
                attempts=int(row["attempts"]),
                created_at=db.time_value(row["created_at"]),
            )
            for row in rows
        ]

    async def _load(
        self, claimed: list[_Claimed]
    ) -> tuple[dict[uuid.UUID, _Endpoint], dict[str, str]]:
        now = self._clock.now()
        webhook_rows = await Webhook.select(
            Webhook.id,
            Webhook.project,
            Webhook.url,
            Webhook.secret_ciphertext,
            Webhook.previous_secret_ciphertext,
            Webhook.previous_secret_until,
        ).where(Webhook.id.is_in(list({delivery.webhook_id for delivery in claimed})))
        message_rows = await WebhookMessage.select(WebhookMessage.id, WebhookMessage.payload).where(
            WebhookMessage.id.is_in(list({delivery.message_id for delivery in claimed}))
        )
        endpoints = {row["id"]: self._endpoint(row, now) for row in webhook_rows}
        return endpoints, {row["id"]: row["payload"] for row in message_rows}

    def _endpoint(self, row: dict[str, Any], now: datetime) -> _Endpoint:
        endpoint = _Endpoint(id=row["id"], project_id=row["project"], url=row["url"], secrets=())
        associated = webhook_secret_context(row["id"])
        sealed = [row["secret_ciphertext"]]
        until = row["previous_secret_until"]
        if row["previous_secret_ciphertext"] and until is not None and until > now:
            sealed.append(row["previous_secret_ciphertext"])
        try:
            in_use = tuple(self._keyring.decrypt(secret, associated) for secret in sealed)
        except CryptoError as error:
            # One endpoint's secret must not hold up every other delivery.
            log.error("webhook %s: its signing secret does not open: %s", row["id"], error)
            return replace(endpoint, problem="its signing secret does not open with the keyring")
        return replace(endpoint, secrets=in_use)

    async def _deliver(
        self,
        sender: WebhookSender,
        delivery: _Claimed,
        endpoints: dict[uuid.UUID, _Endpoint],
        payloads: dict[str, str],
    ) -> _Outcome | None:
        endpoint = endpoints.get(delivery.webhook_id)
        payload = payloads.get(delivery.message_id)
        if endpoint is None or payload is None:  # deleted meanwhile, with its deliveries
            return None
        if endpoint.problem is not None:
            attempt = Attempt(ok=False, status=None, elapsed_ms=0, error=endpoint.problem)
        else:
            headers = signed_headers(
                delivery.message_id, self._clock.now(), payload, endpoint.secrets
            )
            attempt = await sender.post(endpoint.url, payload, headers)
        return _Outcome(delivery, endpoint, attempt)

    async def _record(self, outcomes: list[_Outcome]) -> None:
        """What came of a batch, in one transaction: each delivery's status and next attempt,
        and each endpoint's health."""
        if not outcomes:
            return
        now = self._clock.now()
        async with db.transaction():
            enabled = await self._endpoint_health(outcomes, now)
            rows = [self._row(outcome, enabled, now) for outcome in outcomes]
            await db.execute_many(_RECORD, rows)
        succeeded = sum(1 for outcome in outcomes if outcome.attempt.ok)
        self.sent += succeeded
        self.failed_attempts += len(outcomes) - succeeded

    async def _endpoint_health(
        self, outcomes: list[_Outcome], now: datetime
    ) -> dict[uuid.UUID, bool]:
        """Each endpoint's health after this batch (test deliveries aside): any success means
        it works. Whether each is still enabled."""
        results: dict[uuid.UUID, tuple[_Endpoint, bool]] = {}
        for outcome in outcomes:
            if outcome.delivery.event is WebhookEvent.WEBHOOK_TEST:
                continue
            endpoint = outcome.endpoint
            worked = results.get(endpoint.id, (endpoint, False))[1] or outcome.attempt.ok
            results[endpoint.id] = (endpoint, worked)
        return {
            endpoint_id: await self._track_health(endpoint, ok=worked, now=now)
            for endpoint_id, (endpoint, worked) in sorted(results.items())
        }

    def _row(
        self, outcome: _Outcome, enabled: dict[uuid.UUID, bool], now: datetime
    ) -> tuple[Any, ...]:
        delivery, attempt = outcome.delivery, outcome.attempt
        test = delivery.event is WebhookEvent.WEBHOOK_TEST
        if attempt.ok:
            status, next_at = DeliveryStatus.SUCCEEDED, None
        else:
            # A test delivery is tried once (whoever asked is watching); nothing is tried again
            # for a disabled endpoint. Attempts were counted when claimed, so an attempt whose
            # sender died counts too.
            retry = not test and enabled.get(outcome.endpoint.id, True)
            next_at = (
                next_attempt_at(delivery.attempts, delivery.created_at, now, self._rng)
                if retry
                else None
            )
            status = DeliveryStatus.PENDING if next_at else DeliveryStatus.FAILED
        return (
            status.value,
            next_at,
            attempt.status,
            attempt.elapsed_ms,
            attempt.error,
            now if attempt.ok else None,
            delivery.id,
            self._holder,
        )

    async def _track_health(self, endpoint: _Endpoint, *, ok: bool, now: datetime) -> bool:
        """Note a success or a failure of the endpoint; False once it is disabled."""
        if ok:
            # Written only when it changes: a healthy endpoint costs no write per delivery.
            await db.fetch(
                "UPDATE webhooks SET failing_since = NULL "
                "WHERE id = {} AND failing_since IS NOT NULL",
                endpoint.id,
            )
            return True
        rows = await db.fetch(
            "UPDATE webhooks SET failing_since = COALESCE(failing_since, {}) WHERE id = {} "
            "RETURNING failing_since, enabled",
            now,
            endpoint.id,
        )
        if not rows or not rows[0]["enabled"]:
            return False
        failing_since = db.time_value(rows[0]["failing_since"])
        if now - failing_since < DISABLE_AFTER:
            return True
        await self._disable(endpoint, failing_since, now)
        return False

    async def _disable(self, endpoint: _Endpoint, failing_since: datetime, now: datetime) -> None:
        days = (now - failing_since).days
        reason = f"Every delivery failed for {days} days; disabled {now:%Y-%m-%d %H:%M} UTC."
        await db.fetch(
            "UPDATE webhooks SET enabled = {}, disabled_at = {}, disabled_reason = {}, "
            "updated_at = {} WHERE id = {}",
            False,
            now,
            reason,
            now,
            endpoint.id,
        )
        await db.fetch(
            "UPDATE webhook_deliveries SET status = 'FAILED', next_attempt_at = NULL, "
            "last_error = {} WHERE webhook = {} AND status = 'PENDING' AND claimed_by IS NULL",
            # Deliveries in flight elsewhere fail when they come back (see `_record`).
            "the webhook was disabled",
            endpoint.id,
        )
        await self._audit.record(
            Principal.acting_system(SYSTEM_ACTOR),
            action="webhook.disable",
            target_type="webhook",
            target_id=str(endpoint.id),
            project_id=endpoint.project_id,
            details={"reason": reason, "failingSince": failing_since.isoformat()},
        )
        log.warning("webhook %s disabled after failing since %s", endpoint.id, failing_since)


def webhook_secret_context(webhook_id: uuid.UUID) -> bytes:
    """Associated data binding a sealed secret to its webhook: a ciphertext copied onto
    another row does not open there."""
    return f"webhook:{webhook_id}".encode()
