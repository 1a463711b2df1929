"""Writing and reading the audit trail.

`record()` joins the caller's transaction, so an event is stored exactly when the change it
describes is. Details must never carry a secret; callers pass labels and ids only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from piccolo.custom_types import Combinable

from app import db
from app.audit.tables import AuditEvent
from app.clock import Clock
from app.pagination import Page, PageRequest, SortOrder, keyset_page
from app.projects.access import AccessControl, Permission
from app.security.principal import Principal


@dataclass(frozen=True)
class AuditRecord:
    id: uuid.UUID
    project_id: uuid.UUID | None
    actor_user_id: uuid.UUID | None
    actor_api_key_id: str | None
    actor_system: str | None
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any]
    client_ip: str | None
    created_at: datetime


@dataclass(frozen=True)
class AuditFilter:
    """Which events to list; every given condition must hold."""

    action: str | None = None
    # A person's id or a project API key's id: whoever acted.
    actor_id: str | None = None
    target_id: str | None = None

    def conditions(self, base: Combinable) -> Combinable:
        where = base
        if self.action is not None:
            where &= AuditEvent.action == self.action
        if self.target_id is not None:
            where &= AuditEvent.target_id == self.target_id
        if self.actor_id is not None:
            where &= self._actor_condition(self.actor_id)
        return where

    @staticmethod
    def _actor_condition(actor_id: str) -> Combinable:
        by_key = AuditEvent.actor_api_key_id == actor_id
        try:
            return by_key | (AuditEvent.actor_user_id == uuid.UUID(actor_id))
        except ValueError:
            return by_key


class AuditService:
    def __init__(self, clock: Clock, access: AccessControl) -> None:
        self._clock = clock
        self._access = access

    async def record(
        self,
        principal: Principal,
        *,
        action: str,
        target_type: str,
        target_id: str,
        project_id: uuid.UUID | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        await AuditEvent.insert(
            AuditEvent(
                id=uuid.uuid4(),
                project_id=project_id,
                actor_user_id=principal.user_id,
                actor_api_key_id=principal.api_key_id,
                actor_system=principal.system,
                action=action,
                target_type=target_type,
                target_id=target_id,
                details=details or {},
                client_ip=principal.client_ip,
                created_at=self._clock.now(),
            )
        )

    async def project_events(
        self,
        principal: Principal,
        project_id: uuid.UUID,
        page: PageRequest,
        only: AuditFilter = AuditFilter(),
    ) -> Page[AuditRecord]:
        """What was done in the project, newest first (OWNER and ADMIN)."""
        await self._access.authorize(
            principal, project_id, Permission.READ_AUDIT_LOG, action="read the audit trail"
        )
        conditions = only.conditions(AuditEvent.project_id == project_id)
        query = AuditEvent.select().where(conditions)
        count = AuditEvent.count().where(conditions)
        return await keyset_page(
            query, count, page, SortOrder(AuditEvent.created_at), AuditEvent.id, _to_record
        )

    async def project_actions(self, principal: Principal, project_id: uuid.UUID) -> list[str]:
        """The actions the project's trail holds, for a filter to offer (OWNER and ADMIN)."""
        await self._access.authorize(
            principal, project_id, Permission.READ_AUDIT_LOG, action="read the audit trail"
        )
        rows = (
            await AuditEvent.select(AuditEvent.action)
            .where(AuditEvent.project_id == project_id)
            .distinct()
        )
        return sorted(row["action"] for row in rows)


def _to_record(row: dict[str, Any]) -> AuditRecord:
    details = db.json_value(row["details"])
    return AuditRecord(
        id=row["id"],
        project_id=row["project_id"],
        actor_user_id=row["actor_user_id"],
        actor_api_key_id=row["actor_api_key_id"],
        actor_system=row["actor_system"],
        action=row["action"],
        target_type=row["target_type"],
        target_id=row["target_id"],
        details=details,
        client_ip=row["client_ip"],
        created_at=row["created_at"],
    )
