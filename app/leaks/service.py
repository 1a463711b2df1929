"""Keys found where they should not be: what each is, and acting on the live ones.

Two callers: the scanner (`python -m app scan`, an operator's command) and GitHub's secret
scanning reports (`POST /secret-scanning/github`, signed by GitHub). Neither is a member of any
project, so these entry points take no principal: the audit trail names the part of the service
that acted (`actor_system`) and where the key was found.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from app import db
from app.api_keys.tables import ApiKey
from app.audit.service import AuditService
from app.clock import Clock, is_expired
from app.security import tokens
from app.security.principal import Principal
from app.settings import LeakedKeyAction
from app.usage.alerts import AlertKind, raise_alert
from app.webhooks.events import Outbox, WebhookEvent


class KeyStatus(StrEnum):
    LIVE = "live"
    EXPIRED = "expired"
    DELETED = "deleted"
    # Not one of ours: no key with that id, or a secret that does not match it.
    UNKNOWN = "unknown"


class Reporter(StrEnum):
    SCANNER = "scanner"
    GITHUB = "github_secret_scanning"


@dataclass(frozen=True)
class LeakReport:
    """Where a key was found, in the reporter's words; never the key itself."""

    reporter: Reporter
    # A URL (GitHub) or a path and line (the scanner); may be empty.
    place: str
    # GitHub's `source` (content, commit, issue_comment, ...); empty for the scanner.
    source: str = ""


@dataclass(frozen=True)
class LeakOutcome:
    key_id: str
    status: KeyStatus
    # "revoked", "alerted", or "none" (not live, or this place was reported before).
    action: str


@dataclass(frozen=True)
class _Stored:
    id: str
    project_id: uuid.UUID
    note: str
    start: str
    secret_digest: str
    expires_at: datetime | None
    deleted_at: datetime | None


class LeakService:
    def __init__(self, *, clock: Clock, audit: AuditService, outbox: Outbox) -> None:
        self._clock = clock
        self._audit = audit
        self._outbox = outbox

    async def statuses(self, found: Iterable[str]) -> dict[str, KeyStatus]:
        """Each key's status, by the key's digest (the keys themselves are not kept)."""
        parts = {tokens.parse_project_key(token) for token in found}
        stored = await _stored_keys({part.key_id for part in parts})
        now = self._clock.now()
        return {part.digest: _status(stored.get(part.key_id), part.digest, now) for part in parts}

    async def report(self, token: str, report: LeakReport, action: LeakedKeyAction) -> LeakOutcome:
        """Act on one key found in public: a live key is revoked (or only alerted on, by
        `action`), with a KEY_LEAKED alert, an audit event and webhook messages, all in one
        transaction. A place reported again changes nothing."""
        parts = tokens.parse_project_key(token)
        async with db.transaction():
            await db.lock_for_update(ApiKey, parts.key_id)
            key = (await _stored_keys({parts.key_id})).get(parts.key_id)
            now = self._clock.now()
            status = _status(key, parts.digest, now)
            if key is None or status is not KeyStatus.LIVE:
                return LeakOutcome(parts.key_id, status, "none")
            done = "revoked" if action is LeakedKeyAction.REVOKE else "alerted"
            evidence = _evidence(report, done)
            alert_id = await raise_alert(
                self._outbox,
                key.project_id,
                key.id,
                AlertKind.KEY_LEAKED,
                condition="leak:" + hashlib.sha256(report.place.encode()).hexdigest()[:40],
                window=(now, now),
                evidence=evidence,
                now=now,
            )
            if alert_id is None:
                return LeakOutcome(key.id, status, "none")
            if action is LeakedKeyAction.REVOKE:
                await ApiKey.update({ApiKey.deleted_at: now}).where(ApiKey.id == key.id)
            await self._record(key, report, done, alert_id, now)
        return LeakOutcome(key.id, KeyStatus.DELETED if done == "revoked" else status, done)

    async def _record(
        self, key: _Stored, report: LeakReport, done: str, alert_id: uuid.UUID, now: datetime
    ) -> None:
        facts = {
            "apiKeyId": key.id,
            "note": key.note,
            "start": key.start,
            "expiresAt": key.expires_at.isoformat() if key.expires_at else None,
        }
        found = {"foundAt": report.place, "source": report.source, "reportedBy": report.reporter}
        await self._audit.record(
            Principal.acting_system(report.reporter.value),
            action="api_key.revoke_leaked" if done == "revoked" else "api_key.leak_reported",
            target_type="api_key",
            target_id=key.id,
            project_id=key.project_id,
            details={"note": key.note, **found},
        )
        await self._outbox.publish(
            key.project_id,
            WebhookEvent.KEY_LEAKED,
            {**facts, **found, "action": done, "alertId": str(alert_id)},
            now=now,
        )
        if done == "revoked":
            await self._outbox.publish(
                key.project_id, WebhookEvent.API_KEY_DELETED, {**facts, "reason": "leaked"}, now=now
            )


def _evidence(report: LeakReport, done: str) -> dict[str, Any]:
    evidence: dict[str, Any] = {"reportedBy": report.reporter.value, "action": done}
    if report.reporter is Reporter.GITHUB:
        evidence.update(url=report.place, source=report.source)
    else:
        evidence.update(place=report.place)
    return evidence


def _status(key: _Stored | None, digest: str, now: datetime) -> KeyStatus:
    if key is None or not tokens.digests_match(digest, key.secret_digest):
        return KeyStatus.UNKNOWN
    if key.deleted_at is not None:
        return KeyStatus.DELETED
    if is_expired(key.expires_at, now):
        return KeyStatus.EXPIRED
    return KeyStatus.LIVE


async def _stored_keys(key_ids: set[str]) -> dict[str, _Stored]:
    if not key_ids:
        return {}
    rows = await ApiKey.select(
        ApiKey.id,
        ApiKey.project,
        ApiKey.note,
        ApiKey.start,
        ApiKey.secret_digest,
        ApiKey.expires_at,
        ApiKey.deleted_at,
    ).where(ApiKey.id.is_in(list(key_ids)))
    return {
        row["id"]: _Stored(
            id=row["id"],
            project_id=row["project"],
            note=row["note"],
            start=row["start"],
            secret_digest=row["secret_digest"],
            expires_at=row["expires_at"],
            deleted_at=row["deleted_at"],
        )
        for row in rows
    }
