"""Who may do what in a project: the one place the rules live.

Every service entry point that reads or writes a project's data asks `AccessControl` about the
caller first. A project the caller does not belong to does not exist for them (NotFound: ids of
other projects leak nothing); a member without the needed permission gets Forbidden. The
GraphQL layer exposes the same table as `Project.viewerCan`, so clients hold no copy of it.

A project's own API key acts with no role: it reads its project, its keys' metadata and usage,
and nothing a leak would spread (people, addresses, alerts, provider keys, the audit trail).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from app import db
from app.errors import Forbidden, NotFound, Unauthenticated
from app.projects.tables import Membership, Project
from app.security.principal import Principal, PrincipalKind

_RECORD_CACHE_SIZE = 10_000


class Role(StrEnum):
    OWNER = "OWNER"
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"


class Permission(StrEnum):
    MANAGE_API_KEYS = "manage_api_keys"
    MANAGE_LLM_API_KEYS = "manage_llm_api_keys"
    MANAGE_MEMBERS = "manage_members"
    ACKNOWLEDGE_SECURITY_ALERTS = "acknowledge_security_alerts"
    READ_MEMBERS = "read_members"
    READ_LLM_API_KEYS = "read_llm_api_keys"
    READ_SECURITY_ALERTS = "read_security_alerts"
    READ_CLIENT_IPS = "read_client_ips"
    READ_AUDIT_LOG = "read_audit_log"
    MANAGE_WEBHOOKS = "manage_webhooks"
    READ_WEBHOOKS = "read_webhooks"


_EVERY_ROLE = frozenset(Role)
MANAGERS = frozenset({Role.OWNER, Role.ADMIN})

# The rules. What is not listed here (reading the project, its API keys and their usage) is open
# to everyone with access to the project, its own API keys included.
GRANTS: dict[Permission, frozenset[Role]] = {
    Permission.MANAGE_API_KEYS: MANAGERS,
    Permission.MANAGE_LLM_API_KEYS: MANAGERS,
    Permission.MANAGE_MEMBERS: frozenset({Role.OWNER}),
    Permission.ACKNOWLEDGE_SECURITY_ALERTS: MANAGERS,
    Permission.READ_MEMBERS: _EVERY_ROLE,
    Permission.READ_LLM_API_KEYS: _EVERY_ROLE,
    Permission.READ_SECURITY_ALERTS: _EVERY_ROLE,
    Permission.READ_CLIENT_IPS: _EVERY_ROLE,
    Permission.READ_AUDIT_LOG: MANAGERS,
    Permission.MANAGE_WEBHOOKS: MANAGERS,
    # An endpoint's URL can carry the receiving service's own token.
    Permission.READ_WEBHOOKS: MANAGERS,
}


@dataclass(frozen=True)
class ProjectRecord:
    id: uuid.UUID
    name: str
    created_at: datetime


@dataclass(frozen=True)
class ProjectAccess:
    """The caller's standing in one project: `role` is None for a project's own API key."""

    project: ProjectRecord
    principal: Principal
    role: Role | None

    def can(self, permission: Permission) -> bool:
        return self.role is not None and self.role in GRANTS[permission]

    def require(self, permission: Permission, action: str) -> None:
        """Forbidden, with a message naming who may `action`, unless the caller can."""
        if self.can(permission):
            return
        if self.role is None:
            raise Forbidden(f"A project API key cannot {action}; sign in as a member.")
        raise Forbidden(f"Only a project {_who(GRANTS[permission])} can {action}.")


def _who(roles: Collection[Role]) -> str:
    return " or ".join(role.value for role in Role if role in roles)


class AccessControl:
    def __init__(self) -> None:
        # Projects are never renamed or deleted through this API, so a project's record can be
        # kept per process: a request made with a project key then needs no read for its
        # project. (A rename or delete would have to drop the entry.)
        self._records: dict[uuid.UUID, ProjectRecord] = {}

    async def access(self, principal: Principal, project_id: uuid.UUID) -> ProjectAccess:
        """The caller's standing in a project, or NotFound when the project is not theirs.

        Read once per request: the principal lives as long as its request and keeps what was
        read (writes confirm it again under a lock, see `access_for_write`).
        """
        known = principal.standing.get(project_id)
        if isinstance(known, ProjectAccess):
            return known
        access = await self._read_access(principal, project_id)
        principal.standing[project_id] = access
        return access

    async def find(self, principal: Principal, project_id: uuid.UUID) -> ProjectAccess | None:
        try:
            return await self.access(principal, project_id)
        except NotFound:
            return None

    async def authorize(
        self,
        principal: Principal,
        project_id: uuid.UUID,
        permission: Permission,
        *,
        action: str,
        missing: NotFound | None = None,
    ) -> ProjectAccess:
        """Access that holds `permission`. `missing` replaces NotFound when the project is not
        the caller's: the thing they asked for does not exist for them, whatever it is."""
        try:
            access = await self.access(principal, project_id)
        except NotFound:
            if missing is None:
                raise
            raise missing from None
        access.require(permission, action)
        return access

    async def authorize_write(
        self,
        principal: Principal,
        project_id: uuid.UUID,
        permission: Permission,
        *,
        action: str,
        missing: NotFound | None = None,
        updates_project: bool = False,
    ) -> ProjectAccess:
        """`authorize`, read again inside the caller's write transaction under a lock on the
        project.

        Removing a member takes the exclusive lock, so a member removed at the same moment either
        is gone before this read (and the write is refused) or is removed only after the write
        committed: never a key created by someone no longer allowed to. The lock is shared unless
        the write also updates the project row (`updates_project`): two sharers that both go on
        to update the row would wait for each other.
        """
        if updates_project:
            await db.lock_for_update(Project, project_id)
        else:
            await db.lock_for_share(Project, project_id)
        self.forget(principal, project_id)
        return await self.authorize(
            principal, project_id, permission, action=action, missing=missing
        )

    async def owner_under_lock(
        self, principal: Principal, project_id: uuid.UUID, action: str
    ) -> ProjectAccess:
        """OWNER rights read inside the caller's transaction under the project's exclusive lock:
        membership changes take turns, and an owner removed a moment ago changes nothing."""
        await db.lock_for_update(Project, project_id)
        self.forget(principal, project_id)
        return await self.authorize(principal, project_id, Permission.MANAGE_MEMBERS, action=action)

    def forget(self, principal: Principal, project_id: uuid.UUID) -> None:
        """Read the caller's standing again next time: their membership just changed."""
        principal.standing.pop(project_id, None)

    def remember(self, access: ProjectAccess) -> None:
        """Keep an access read in bulk (a page of projects) for the rest of the request."""
        access.principal.standing[access.project.id] = access

    async def roles(
        self, principal: Principal, project_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, Role]:
        if principal.user_id is None or not project_ids:
            return {}
        rows = await Membership.select(Membership.project, Membership.role).where(
            (Membership.user == principal.user_id) & Membership.project.is_in(project_ids)
        )
        return {row["project"]: Role(row["role"]) for row in rows}

    async def _read_access(self, principal: Principal, project_id: uuid.UUID) -> ProjectAccess:
        not_found = NotFound("Project not found.", field=("projectId",))
        if principal.kind is PrincipalKind.PROJECT:
            if principal.project_id != project_id:
                raise not_found
            role = None
        elif principal.kind is PrincipalKind.USER:
            membership = (
                await Membership.select(Membership.role)
                .where((Membership.project == project_id) & (Membership.user == principal.user_id))
                .first()
            )
            if membership is None:
                raise not_found
            role = Role(membership["role"])
        else:
            raise Unauthenticated("Log in to see projects.")
        project = await self.project(project_id)
        if project is None:
            raise not_found
        return ProjectAccess(project=project, principal=principal, role=role)

    async def project(self, project_id: uuid.UUID) -> ProjectRecord | None:
        cached = self._records.get(project_id)
        if cached is not None:
            return cached
        row = await Project.select().where(Project.id == project_id).first()
        if row is None:
            return None
        if len(self._records) >= _RECORD_CACHE_SIZE:
            self._records.pop(next(iter(self._records)))
        record = self._records[project_id] = project_record(row)
        return record


def project_record(row: dict[str, Any]) -> ProjectRecord:
    return ProjectRecord(id=row["id"], name=row["name"], created_at=row["created_at"])
