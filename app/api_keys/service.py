"""Project API keys: create (secret shown once), rename, delete (revoke at once), list.

Rights: a project's OWNER or ADMIN manages its keys; a MEMBER and the project's own keys may read
key metadata. A key of another project is simply not found. Rotation is create-then-delete: keys
may share a note, and both work until the old one is deleted.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import msgspec

from app import db
from app.api_keys.policy import (
    OPEN_POLICY,
    KeyPolicy,
    PolicyInput,
    policy_from_json,
    policy_to_json,
    validate_policy,
)
from app.api_keys.tables import ApiKey
from app.audit.service import AuditService
from app.clock import Clock, is_expired
from app.errors import InvalidInput, NotFound, ProblemCollector
from app.pagination import Page, PageRequest, SortOrder, keyset_page
from app.projects.access import AccessControl, Permission, ProjectAccess
from app.security import tokens
from app.security.principal import Principal
from app.text import invisible_problem
from app.webhooks.events import Outbox, WebhookEvent

MAX_NOTE_LENGTH = 200
MAX_GRACE_PERIOD = timedelta(days=7)
MAX_SEARCH_LENGTH = 200
_CREATE_ATTEMPTS = 3


class ApiKeyStatus(StrEnum):
    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"


class ApiKeyOrderField(StrEnum):
    CREATED_AT = "CREATED_AT"
    NOTE = "NOTE"
    EXPIRES_AT = "EXPIRES_AT"
    LAST_USED_AT = "LAST_USED_AT"


@dataclass(frozen=True)
class ApiKeyOrder:
    field: ApiKeyOrderField = ApiKeyOrderField.CREATED_AT
    descending: bool = True

    def sort_order(self) -> SortOrder:
        column = {
            ApiKeyOrderField.CREATED_AT: ApiKey.created_at,
            ApiKeyOrderField.NOTE: ApiKey.note,
            ApiKeyOrderField.EXPIRES_AT: ApiKey.expires_at,
            ApiKeyOrderField.LAST_USED_AT: ApiKey.last_used_at,
        }[self.field]
        return SortOrder(
            column, descending=self.descending, ignore_case=self.field is ApiKeyOrderField.NOTE
        )


@dataclass(frozen=True)
class ApiKeyRecord:
    id: str
    project_id: uuid.UUID
    note: str
    start: str
    created_at: datetime
    created_by: uuid.UUID | None
    expires_at: datetime | None
    last_used_at: datetime | None
    last_used_ip: str | None
    policy: KeyPolicy = OPEN_POLICY
    # The key that replaced this one in a rotation with a grace period.
    replaced_by: str | None = None

    def status(self, now: datetime) -> ApiKeyStatus:
        return ApiKeyStatus.EXPIRED if is_expired(self.expires_at, now) else ApiKeyStatus.ACTIVE


@dataclass(frozen=True)
class IssuedKey:
    """A new key and its secret: the only time the secret exists outside the client."""

    key: ApiKeyRecord
    secret: str

    def __repr__(self) -> str:
        return f"IssuedKey(key={self.key!r}, secret='**********')"


# The model ids a project can use (its catalog): what a key's allowed models are checked
# against. A function, so that this service does not depend on the provider keys' one.
ProjectModels = Callable[[Principal, uuid.UUID], Awaitable[Sequence[str]]]


@dataclass(frozen=True)
class KeyFilter:
    """Which of a project's live keys a list shows."""

    search: str | None = None
    status: ApiKeyStatus | None = None


class ApiKeyService:
    def __init__(
        self,
        *,
        clock: Clock,
        access: AccessControl,
        audit: AuditService,
        models: ProjectModels,
        outbox: Outbox,
    ) -> None:
        self._clock = clock
        self._access = access
        self._audit = audit
        self._models = models
        self._outbox = outbox

    async def create(
        self,
        principal: Principal,
        *,
        project_id: uuid.UUID,
        note: str,
        expires_at: datetime | None,
        policy: PolicyInput | None = None,
    ) -> IssuedKey:
        await self._access.authorize(
            principal, project_id, Permission.MANAGE_API_KEYS, action="create API keys"
        )
        now = self._clock.now()
        known = await self._known_models(principal, project_id, policy)
        note, checked = _valid_key_fields(note, expires_at, now, policy, known)
        async with db.transaction():
            await self._confirm_manager(
                principal, project_id, "create API keys", _project_not_found()
            )
            issued = await self._issue(principal, project_id, note, expires_at, checked)
            await self._audit_change(principal, "api_key.create", issued.key)
            await self._tell(WebhookEvent.API_KEY_CREATED, issued.key)
        return issued

    async def rotate(
        self,
        principal: Principal,
        *,
        key_id: str,
        grace_period: timedelta,
        expires_at: datetime | None = None,
    ) -> tuple[IssuedKey, ApiKeyRecord]:
        """A new key with the same note and policy, shown once; the old one works until the
        grace period ends (0: revoked at once), then is refused as expired. Returns the new key
        and the old one as it now stands."""
        now = self._clock.now()
        problems = ProblemCollector()
        if not timedelta(0) <= grace_period <= MAX_GRACE_PERIOD:
            problems.add(
                "gracePeriodSeconds",
                f"Give 0 (revoke at once) to {int(MAX_GRACE_PERIOD.total_seconds()):,} seconds "
                "(7 days).",
            )
        if expires_at is not None and expires_at <= now:
            problems.add("expiresAt", "Choose an expiry in the future, or none.")
        problems.raise_if_any()
        old = await self._managed_key(principal, key_id, "rotate API keys")
        async with db.transaction():
            await self._confirm_manager(
                principal, old.project_id, "rotate API keys", _key_not_found()
            )
            issued = await self._issue(principal, old.project_id, old.note, expires_at, old.policy)
            ends = _grace_end(old.expires_at, now + grace_period)
            changes: dict[Any, Any] = {ApiKey.replaced_by: issued.key.id}
            if grace_period == timedelta(0):
                changes[ApiKey.deleted_at] = now
            else:
                changes[ApiKey.expires_at] = ends
            rotated = (
                await ApiKey.update(changes)
                .where((ApiKey.id == old.id) & ApiKey.deleted_at.is_null())
                .returning(ApiKey.id)
            )
            if not rotated:  # deleted a moment ago
                raise _key_not_found()
            previous = replace(old, expires_at=ends, replaced_by=issued.key.id)
            await self._audit_change(
                principal,
                "api_key.rotate",
                issued.key,
                previous_key=old.id,
                grace_period_seconds=int(grace_period.total_seconds()),
            )
            await self._tell(WebhookEvent.API_KEY_CREATED, issued.key, replaces=old.id)
            if grace_period == timedelta(0):
                await self._tell(WebhookEvent.API_KEY_DELETED, old, reason="rotated")
        return issued, previous

    async def update_policy(
        self, principal: Principal, *, key_id: str, policy: PolicyInput
    ) -> ApiKeyRecord:
        """Replace the key's whole policy; it applies on every process from the next request."""
        key = await self._managed_key(principal, key_id, "change API key policies")
        checked = validate_policy(
            policy, await self._known_models(principal, key.project_id, policy)
        )
        async with db.transaction():
            await self._confirm_manager(
                principal, key.project_id, "change API key policies", _key_not_found()
            )
            updated = (
                await ApiKey.update({ApiKey.policy: policy_to_json(checked)})
                .where((ApiKey.id == key.id) & ApiKey.deleted_at.is_null())
                .returning(ApiKey.id)
            )
            if not updated:
                raise _key_not_found()
            changed = replace(key, policy=checked)
            await self._audit_change(
                principal, "api_key.update_policy", changed, policy=policy_summary(checked)
            )
        return changed

    async def _known_models(
        self, principal: Principal, project_id: uuid.UUID, policy: PolicyInput | None
    ) -> frozenset[str]:
        if policy is None or policy.allowed_models is None:
            return frozenset()
        return frozenset(await self._models(principal, project_id))

    async def _issue(
        self,
        principal: Principal,
        project_id: uuid.UUID,
        note: str,
        expires_at: datetime | None,
        policy: KeyPolicy,
    ) -> IssuedKey:
        """Insert a new key, in the caller's transaction. A key id collision (odds ~1e-21) is
        retried with a fresh id, in a savepoint of its own."""
        for attempt in range(_CREATE_ATTEMPTS):
            key_id = tokens.new_key_id()
            secret = tokens.new_project_key(key_id)
            record = ApiKeyRecord(
                id=key_id,
                project_id=project_id,
                note=note,
                start=tokens.key_start(key_id),
                created_at=self._clock.now(),
                created_by=principal.user_id,
                expires_at=expires_at,
                last_used_at=None,
                last_used_ip=None,
                policy=policy,
            )
            if await ApiKey.exists().where(ApiKey.id == key_id) and attempt + 1 < _CREATE_ATTEMPTS:
                continue
            await ApiKey.insert(_row(record, tokens.digest(secret)))
            return IssuedKey(key=record, secret=secret)
        raise AssertionError("unreachable")

    async def update_note(self, principal: Principal, *, key_id: str, note: str) -> ApiKeyRecord:
        note = _valid_note(note)
        key = await self._managed_key(principal, key_id, "edit API keys")
        async with db.transaction():
            await self._confirm_manager(
                principal, key.project_id, "edit API keys", _key_not_found()
            )
            updated = (
                await ApiKey.update({ApiKey.note: note})
                .where((ApiKey.id == key.id) & ApiKey.deleted_at.is_null())
                .returning(ApiKey.id)
            )
            if not updated:
                raise _key_not_found()
            renamed = replace(key, note=note)
            await self._audit_change(
                principal, "api_key.update_note", renamed, previous_note=key.note
            )
        return renamed

    async def delete(self, principal: Principal, *, key_id: str) -> str:
        key = await self._managed_key(principal, key_id, "delete API keys")
        async with db.transaction():
            await self._confirm_manager(
                principal, key.project_id, "delete API keys", _key_not_found()
            )
            deleted = (
                await ApiKey.update({ApiKey.deleted_at: self._clock.now()})
                .where((ApiKey.id == key.id) & ApiKey.deleted_at.is_null())
                .returning(ApiKey.id)
            )
            if not deleted:  # deleted by someone else a moment ago
                raise _key_not_found()
            await self._audit_change(principal, "api_key.delete", key)
            await self._tell(WebhookEvent.API_KEY_DELETED, key, reason="deleted")
        return key.id

    async def keys(
        self,
        principal: Principal,
        project_id: uuid.UUID,
        page: PageRequest,
        which: KeyFilter | None = None,
        order: ApiKeyOrder | None = None,
    ) -> Page[ApiKeyRecord]:
        """Live keys of the project, newest first unless `order` says otherwise; `which.search`
        matches the note (case-insensitive substring) or the exact id."""
        access = await self._access.access(principal, project_id)
        where = self._listed(project_id, which or KeyFilter())
        return await keyset_page(
            ApiKey.select().where(where),
            ApiKey.count().where(where),
            page,
            (order or ApiKeyOrder()).sort_order(),
            ApiKey.id,
            lambda row: _visible_to(access, _record(row)),
        )

    async def key(
        self, principal: Principal, project_id: uuid.UUID, key_id: str
    ) -> ApiKeyRecord | None:
        """One live key of the project, or None."""
        access = await self._access.find(principal, project_id)
        if access is None:
            return None
        row = (
            await ApiKey.select().where((ApiKey.id == key_id) & self._live_keys(project_id)).first()
        )
        return _visible_to(access, _record(row)) if row else None

    async def keys_by_id(
        self, principal: Principal, project_id: uuid.UUID, key_ids: Sequence[str]
    ) -> dict[str, ApiKeyRecord]:
        """The live ones of `key_ids` in the project, in one query (alerts name their keys)."""
        access = await self._access.find(principal, project_id)
        if access is None or not key_ids:
            return {}
        rows = await ApiKey.select().where(
            ApiKey.id.is_in(list(key_ids)) & self._live_keys(project_id)
        )
        return {row["id"]: _visible_to(access, _record(row)) for row in rows}

    def status(self, key: ApiKeyRecord) -> ApiKeyStatus:
        return key.status(self._clock.now())

    @staticmethod
    def _live_keys(project_id: uuid.UUID) -> Any:
        return (ApiKey.project == project_id) & ApiKey.deleted_at.is_null()

    def _listed(self, project_id: uuid.UUID, which: KeyFilter) -> Any:
        condition = self._live_keys(project_id)
        term = (which.search or "").strip()
        if len(term) > MAX_SEARCH_LENGTH:
            raise InvalidInput.single(
                "search", f"Search with at most {MAX_SEARCH_LENGTH} characters."
            )
        if term:
            condition = condition & ((ApiKey.id == term) | db.contains_text("note", term))
        now = self._clock.now()
        if which.status is ApiKeyStatus.EXPIRED:
            condition = condition & (ApiKey.expires_at <= now)
        elif which.status is ApiKeyStatus.ACTIVE:
            condition = condition & (ApiKey.expires_at.is_null() | (ApiKey.expires_at > now))
        return condition

    async def _managed_key(self, principal: Principal, key_id: str, action: str) -> ApiKeyRecord:
        row = (
            await ApiKey.select().where((ApiKey.id == key_id) & ApiKey.deleted_at.is_null()).first()
        )
        if row is None:
            raise _key_not_found()
        key = _record(row)
        await self._access.authorize(
            principal,
            key.project_id,
            Permission.MANAGE_API_KEYS,
            action=action,
            missing=_key_not_found(),
        )
        return key

    async def _confirm_manager(
        self, principal: Principal, project_id: uuid.UUID, action: str, missing: NotFound
    ) -> None:
        """The right checked before, read again under the project's lock in the write's own
        transaction (see `AccessControl.authorize_write`)."""
        await self._access.authorize_write(
            principal, project_id, Permission.MANAGE_API_KEYS, action=action, missing=missing
        )

    async def _tell(self, event: WebhookEvent, key: ApiKeyRecord, **extra: Any) -> None:
        """The project's webhooks hear of the change, in its transaction."""
        await self._outbox.publish(
            key.project_id, event, {**key_facts(key), **extra}, now=self._clock.now()
        )

    async def _audit_change(
        self, principal: Principal, action: str, key: ApiKeyRecord, **extra: Any
    ) -> None:
        await self._audit.record(
            principal,
            action=action,
            target_type="api_key",
            target_id=key.id,
            project_id=key.project_id,
            details={"note": key.note, **extra},
        )


def key_facts(key: ApiKeyRecord) -> dict[str, Any]:
    """What a webhook or an alert may say about a key: ids and labels, never its secret."""
    return {
        "apiKeyId": key.id,
        "note": key.note,
        "start": key.start,
        "expiresAt": key.expires_at.isoformat() if key.expires_at else None,
    }


def _visible_to(access: ProjectAccess, key: ApiKeyRecord) -> ApiKeyRecord:
    """What the caller may see of a key: a project key learns nothing about people or where
    the key is used from (the last address, who created it)."""
    if access.can(Permission.READ_CLIENT_IPS):
        return key
    return replace(key, last_used_ip=None, created_by=None)


def _valid_key_fields(
    note: str,
    expires_at: datetime | None,
    now: datetime,
    policy: PolicyInput | None,
    known_models: frozenset[str],
) -> tuple[str, KeyPolicy]:
    """Every problem with a new key's fields at once; the note, trimmed, and the policy."""
    problems = ProblemCollector()
    checked = problems.check(lambda: _valid_note(note), otherwise="")
    if expires_at is not None and expires_at <= now:
        problems.add("expiresAt", "Choose an expiry in the future, or none.")
    checked_policy = (
        OPEN_POLICY
        if policy is None
        else problems.check(lambda: validate_policy(policy, known_models), otherwise=OPEN_POLICY)
    )
    problems.raise_if_any()
    return checked, checked_policy


def _grace_end(expires_at: datetime | None, grace_end: datetime) -> datetime:
    """When a rotated key stops: at the grace period's end, or its own expiry if sooner."""
    return grace_end if expires_at is None else min(expires_at, grace_end)


def policy_summary(policy: KeyPolicy) -> dict[str, Any]:
    """The policy for the audit trail (nothing in it is secret)."""
    return msgspec.json.decode(policy_to_json(policy))  # type: ignore[no-any-return]


def _valid_note(note: str) -> str:
    note = note.strip()
    if not note:
        raise InvalidInput.single("note", "Enter a note that says where the key is used.")
    if len(note) > MAX_NOTE_LENGTH:
        raise InvalidInput.single("note", f"Use at most {MAX_NOTE_LENGTH} characters for the note.")
    if problem := invisible_problem(note, "note"):
        raise InvalidInput.single("note", problem)
    return note


def _key_not_found() -> NotFound:
    return NotFound("API key not found.", field=("id",))


def _project_not_found() -> NotFound:
    return NotFound("Project not found.", field=("projectId",))


def _row(key: ApiKeyRecord, secret_digest: str) -> ApiKey:
    return ApiKey(
        id=key.id,
        project=key.project_id,
        note=key.note,
        start=key.start,
        secret_digest=secret_digest,
        created_at=key.created_at,
        created_by=key.created_by,
        expires_at=key.expires_at,
        policy=policy_to_json(key.policy),
    )


def _record(row: dict[str, Any]) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row["id"],
        project_id=row["project"],
        note=row["note"],
        start=row["start"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        expires_at=row["expires_at"],
        last_used_at=row["last_used_at"],
        last_used_ip=row["last_used_ip"],
        policy=policy_from_json(_json_text(row["policy"])),
        replaced_by=row["replaced_by"],
    )


def _json_text(value: Any) -> str | None:
    """A JSON column as text: SQLite hands it back as text, PostgreSQL's driver too, a test's
    fixture perhaps decoded."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)
