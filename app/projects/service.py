"""Projects, their members and roles, and the role checks other domains rely on.

Visibility rule: a project the caller does not belong to does not exist for them (NotFound), so
ids of other projects leak nothing. A member without the needed role gets Forbidden.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from app import db
from app.accounts.service import AccountService
from app.audit.service import AuditService
from app.clock import Clock
from app.errors import (
    AlreadyExists,
    Forbidden,
    InvalidInput,
    LastOwner,
    NotFound,
    Unauthenticated,
)
from app.pagination import Page, PageRequest, keyset_page
from app.projects.tables import Membership, Project
from app.security.principal import Principal, PrincipalKind

MAX_PROJECT_NAME_LENGTH = 100


class Role(StrEnum):
    OWNER = "OWNER"
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"


MANAGERS = frozenset({Role.OWNER, Role.ADMIN})
_RECORD_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class ProjectRecord:
    id: uuid.UUID
    name: str
    created_at: datetime


@dataclass(frozen=True)
class MemberRecord:
    project_id: uuid.UUID
    user_id: uuid.UUID
    role: Role
    joined_at: datetime


@dataclass(frozen=True)
class ProjectAccess:
    """What the caller may do in one project: `role` is None for a project's own API key."""

    project: ProjectRecord
    principal: Principal
    role: Role | None

    def require_person(self, what: str) -> None:
        """People's data (members, addresses, alerts, provider keys) is for members only: a
        project API key may read its project and key metadata, and nothing a leak would spread."""
        if self.role is None:
            raise Forbidden(f"A project API key cannot read {what}; sign in as a member.")

    def require_role(self, roles: Collection[Role], action: str) -> None:
        if self.role is None or self.role not in roles:
            allowed = " or ".join(sorted(roles))
            raise Forbidden(f"Only a project {allowed} can {action}.")


def parse_id(raw: str, field: str = "id") -> uuid.UUID:
    """An id from a client; a malformed one is simply an id that matches nothing."""
    try:
        return uuid.UUID(raw)
    except (ValueError, AttributeError, TypeError):
        raise NotFound("No such object.", field=(field,)) from None


class ProjectService:
    def __init__(self, *, clock: Clock, accounts: AccountService, audit: AuditService) -> None:
        self._clock = clock
        self._accounts = accounts
        self._audit = audit
        self._records: dict[uuid.UUID, ProjectRecord] = {}

    async def access(self, principal: Principal, project_id: uuid.UUID) -> ProjectAccess:
        """The caller's standing in a project, or NotFound when the project is not theirs."""
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
        project = await self._project(project_id)
        if project is None:
            raise not_found
        return ProjectAccess(project=project, principal=principal, role=role)

    async def _project(self, project_id: uuid.UUID) -> ProjectRecord | None:
        # Projects are never renamed or deleted through this API, so a project's record can be
        # kept per process: a request made with a project key then needs no read for its
        # project. (A rename or delete would have to drop the entry.)
        cached = self._records.get(project_id)
        if cached is not None:
            return cached
        row = await Project.select().where(Project.id == project_id).first()
        if row is None:
            return None
        if len(self._records) >= _RECORD_CACHE_SIZE:
            self._records.pop(next(iter(self._records)))
        record = self._records[project_id] = _project_record(row)
        return record

    async def manage(
        self, principal: Principal, project_id: uuid.UUID, *, action: str, missing: NotFound
    ) -> ProjectAccess:
        """Access for changing something of the project (OWNER or ADMIN).

        `missing` is raised when the project is not the caller's: the thing they asked for does
        not exist for them, whatever it is.
        """
        try:
            access = await self.access(principal, project_id)
        except NotFound:
            raise missing from None
        access.require_role(MANAGERS, action)
        return access

    async def manage_locked(
        self,
        principal: Principal,
        project_id: uuid.UUID,
        *,
        action: str,
        missing: NotFound,
        updates_project: bool = False,
    ) -> ProjectAccess:
        """`manage`, read again inside the caller's write transaction under a lock on the project.

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
        return await self.manage(principal, project_id, action=action, missing=missing)

    async def find(self, principal: Principal, project_id: uuid.UUID) -> ProjectAccess | None:
        try:
            return await self.access(principal, project_id)
        except NotFound:
            return None

    async def create(self, principal: Principal, *, name: str) -> ProjectRecord:
        if principal.user_id is None:
            raise Forbidden("Only a signed-in person can create a project.")
        project = ProjectRecord(
            id=uuid.uuid4(), name=_valid_name(name), created_at=self._clock.now()
        )
        async with db.transaction():
            await Project.insert(
                Project(id=project.id, name=project.name, created_at=project.created_at)
            )
            await self._insert_membership(project.id, principal.user_id, Role.OWNER)
            await self._audit.record(
                principal,
                action="project.create",
                target_type="project",
                target_id=str(project.id),
                project_id=project.id,
                details={"name": project.name},
            )
        return project

    async def projects_of(self, principal: Principal, page: PageRequest) -> Page[ProjectAccess]:
        """The caller's projects, newest first: a key sees its own project, a person theirs."""
        if principal.kind is PrincipalKind.PROJECT:
            visible = Project.id == principal.project_id
        elif principal.user_id is not None:
            visible = Project.id.is_in(
                Membership.select(Membership.project).where(Membership.user == principal.user_id)
            )
        else:
            raise Unauthenticated("Log in to see projects.")
        projects = await keyset_page(
            Project.select().where(visible),
            Project.count().where(visible),
            page,
            Project.created_at,
            Project.id,
            _project_record,
        )
        roles = await self._roles(principal, [project.id for project, _ in projects.items])
        return Page(
            items=[
                (
                    ProjectAccess(project=project, principal=principal, role=roles.get(project.id)),
                    cursor,
                )
                for project, cursor in projects.items
            ],
            has_next_page=projects.has_next_page,
            has_previous_page=projects.has_previous_page,
            total_count=projects.total_count,
        )

    async def _roles(
        self, principal: Principal, project_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, Role]:
        if principal.user_id is None or not project_ids:
            return {}
        rows = await Membership.select(Membership.project, Membership.role).where(
            (Membership.user == principal.user_id) & Membership.project.is_in(project_ids)
        )
        return {row["project"]: Role(row["role"]) for row in rows}

    async def members(self, access: ProjectAccess, page: PageRequest) -> Page[MemberRecord]:
        in_project = Membership.project == access.project.id
        return await keyset_page(
            Membership.select().where(in_project),
            Membership.count().where(in_project),
            page,
            Membership.created_at,
            Membership.id,
            _member_record,
        )

    async def add_member(
        self, principal: Principal, *, project_id: uuid.UUID, email: str, role: Role
    ) -> MemberRecord:
        access = await self.access(principal, project_id)
        access.require_role({Role.OWNER}, "add members")
        user = await self._accounts.user_by_email(email)
        if user is None:
            raise NotFound(
                "No account uses this email; ask them to sign up first.", field=("email",)
            )
        try:
            async with db.transaction():
                await self._owner_under_lock(principal, project_id, "add members")
                if await _membership_row(project_id, user.id) is not None:
                    raise _already_member()
                member = await self._insert_membership(project_id, user.id, role)
                await self._audit.record(
                    principal,
                    action="project.member_add",
                    target_type="user",
                    target_id=str(user.id),
                    project_id=project_id,
                    details={"role": role.value},
                )
        except Exception as error:
            if db.is_unique_violation(error):
                raise _already_member() from None
            raise
        return member

    async def remove_member(
        self, principal: Principal, *, project_id: uuid.UUID, user_id: uuid.UUID
    ) -> None:
        async with db.transaction():
            # Two owners removing each other at once must not leave the project ownerless.
            await self._owner_under_lock(principal, project_id, "remove members")
            row = await _membership_row(project_id, user_id)
            if row is None:
                raise NotFound("This person is not a member of the project.", field=("userId",))
            if row["role"] == Role.OWNER and await _owner_count(project_id) <= 1:
                raise LastOwner(
                    "A project needs at least one owner: add another owner first.",
                    field=("userId",),
                )
            await Membership.delete().where(Membership.id == row["id"])
            await self._audit.record(
                principal,
                action="project.member_remove",
                target_type="user",
                target_id=str(user_id),
                project_id=project_id,
                details={"role": row["role"]},
            )

    async def _owner_under_lock(
        self, principal: Principal, project_id: uuid.UUID, action: str
    ) -> None:
        """OWNER rights read inside the caller's transaction under the project's exclusive lock:
        membership changes take turns, and an owner removed a moment ago changes nothing."""
        await db.lock_for_update(Project, project_id)
        (await self.access(principal, project_id)).require_role({Role.OWNER}, action)

    async def mark_llm_keys_changed(self, project_id: uuid.UUID) -> None:
        """Call inside the transaction that changes the project's LLM keys: every server process
        sees the new version on its next proxied request and rebuilds its routes."""
        await Project.update({Project.llm_keys_version: Project.llm_keys_version + 1}).where(
            Project.id == project_id
        )

    async def _insert_membership(
        self, project_id: uuid.UUID, user_id: uuid.UUID, role: Role
    ) -> MemberRecord:
        member = MemberRecord(
            project_id=project_id, user_id=user_id, role=role, joined_at=self._clock.now()
        )
        await Membership.insert(
            Membership(
                id=uuid.uuid4(),
                project=project_id,
                user=user_id,
                role=role.value,
                created_at=member.joined_at,
            )
        )
        return member


def _valid_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput.single("name", "Enter a project name.")
    if len(name) > MAX_PROJECT_NAME_LENGTH:
        raise InvalidInput.single(
            "name", f"Use at most {MAX_PROJECT_NAME_LENGTH} characters for the name."
        )
    return name


async def _membership_row(project_id: uuid.UUID, user_id: uuid.UUID) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await Membership.select()
        .where((Membership.project == project_id) & (Membership.user == user_id))
        .first()
    )
    return row


async def _owner_count(project_id: uuid.UUID) -> int:
    count: int = await Membership.count().where(
        (Membership.project == project_id) & (Membership.role == Role.OWNER.value)
    )
    return count


def _already_member() -> AlreadyExists:
    return AlreadyExists("This person is already a member of the project.", field=("email",))


def _project_record(row: dict[str, Any]) -> ProjectRecord:
    return ProjectRecord(id=row["id"], name=row["name"], created_at=row["created_at"])


def _member_record(row: dict[str, Any]) -> MemberRecord:
    return MemberRecord(
        project_id=row["project"],
        user_id=row["user"],
        role=Role(row["role"]),
        joined_at=row["created_at"],
    )
