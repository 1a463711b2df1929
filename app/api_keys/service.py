"""Project API keys: create (secret shown once), rename, delete (revoke at once), list.

Rights: a project's OWNER or ADMIN manages its keys; a MEMBER and the project's own keys may read
key metadata. A key of another project is simply not found. Rotation is create-then-delete: keys
may share a note, and both work until the old one is deleted.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from app import db
from app.api_keys.tables import ApiKey
from app.audit.service import AuditService
from app.clock import Clock
from app.errors import InvalidInput, NotFound
from app.pagination import Page, PageRequest, keyset_page
from app.projects.service import MANAGERS, ProjectAccess, ProjectService
from app.security import tokens
from app.security.principal import Principal

MAX_NOTE_LENGTH = 200
MAX_SEARCH_LENGTH = 200
_CREATE_ATTEMPTS = 3


class ApiKeyStatus(StrEnum):
    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"


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

    def status(self, now: datetime) -> ApiKeyStatus:
        if self.expires_at is not None and self.expires_at <= now:
            return ApiKeyStatus.EXPIRED
        return ApiKeyStatus.ACTIVE


@dataclass(frozen=True)
class IssuedKey:
    """A new key and its secret: the only time the secret exists outside the client."""

    key: ApiKeyRecord
    secret: str

    def __repr__(self) -> str:
        return f"IssuedKey(key={self.key!r}, secret='**********')"


class ApiKeyService:
    def __init__(self, *, clock: Clock, projects: ProjectService, audit: AuditService) -> None:
        self._clock = clock
        self._projects = projects
        self._audit = audit

    async def create(
        self,
        principal: Principal,
        *,
        project_id: uuid.UUID,
        note: str,
        expires_at: datetime | None,
    ) -> IssuedKey:
        access = await self._projects.access(principal, project_id)
        access.require_role(MANAGERS, "create API keys")
        note = _valid_note(note)
        now = self._clock.now()
        if expires_at is not None and expires_at <= now:
            raise InvalidInput.single("expiresAt", "Choose an expiry in the future, or none.")
        for attempt in range(_CREATE_ATTEMPTS):
            key_id = tokens.new_key_id()
            secret = tokens.new_project_key(key_id)
            record = ApiKeyRecord(
                id=key_id,
                project_id=project_id,
                note=note,
                start=tokens.key_start(key_id),
                created_at=now,
                created_by=principal.user_id,
                expires_at=expires_at,
                last_used_at=None,
                last_used_ip=None,
            )
            try:
                async with db.transaction():
                    await self._confirm_manager(
                        principal, project_id, "create API keys", _project_not_found()
                    )
                    await ApiKey.insert(_row(record, tokens.digest(secret)))
                    await self._audit_change(principal, "api_key.create", record)
            except Exception as error:
                # A key id collision (odds ~1e-21) is retried with a fresh id.
                if db.is_unique_violation(error) and attempt + 1 < _CREATE_ATTEMPTS:
                    continue
                raise
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
        return key.id

    async def keys(
        self, access: ProjectAccess, page: PageRequest, search: str | None
    ) -> Page[ApiKeyRecord]:
        """Live keys of the project, newest first; `search` matches the note or the exact id."""
        live = (ApiKey.project == access.project.id) & ApiKey.deleted_at.is_null()
        term = (search or "").strip()
        if len(term) > MAX_SEARCH_LENGTH:
            raise InvalidInput.single(
                "search", f"Search with at most {MAX_SEARCH_LENGTH} characters."
            )
        if term:
            live = live & ((ApiKey.id == term) | db.contains_text("note", term))
        return await keyset_page(
            ApiKey.select().where(live),
            ApiKey.count().where(live),
            page,
            ApiKey.created_at,
            ApiKey.id,
            _record,
        )

    async def key(self, access: ProjectAccess, key_id: str) -> ApiKeyRecord | None:
        row = (
            await ApiKey.select()
            .where(
                (ApiKey.id == key_id)
                & (ApiKey.project == access.project.id)
                & ApiKey.deleted_at.is_null()
            )
            .first()
        )
        return _record(row) if row else None

    def status(self, key: ApiKeyRecord) -> ApiKeyStatus:
        return key.status(self._clock.now())

    async def _managed_key(self, principal: Principal, key_id: str, action: str) -> ApiKeyRecord:
        row = (
            await ApiKey.select().where((ApiKey.id == key_id) & ApiKey.deleted_at.is_null()).first()
        )
        if row is None:
            raise _key_not_found()
        key = _record(row)
        await self._projects.manage(
            principal, key.project_id, action=action, missing=_key_not_found()
        )
        return key

    async def _confirm_manager(
        self, principal: Principal, project_id: uuid.UUID, action: str, missing: NotFound
    ) -> None:
        """The role checked before, read again under the project's lock in the write's own
        transaction (see `ProjectService.manage_locked`)."""
        await self._projects.manage_locked(principal, project_id, action=action, missing=missing)

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


def _valid_note(note: str) -> str:
    note = note.strip()
    if not note:
        raise InvalidInput.single("note", "Enter a note that says where the key is used.")
    if len(note) > MAX_NOTE_LENGTH:
        raise InvalidInput.single("note", f"Use at most {MAX_NOTE_LENGTH} characters for the note.")
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
    )
