"""Projects, their members and roles.

Who may do what is decided in `app/projects/access.py`; every method here that touches a
project's data asks it first.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app import db
from app.accounts.service import AccountService
from app.api_keys.policy import (
    Budgets,
    BudgetsInput,
    budgets_from_json,
    budgets_to_json,
    validate_budgets,
)
from app.audit.service import AuditService
from app.clock import Clock
from app.errors import AlreadyExists, Forbidden, InvalidInput, LastOwner, NotFound, Unauthenticated
from app.pagination import Page, PageRequest, SortOrder, keyset_page
from app.projects.access import (
    AccessControl,
    Permission,
    ProjectAccess,
    ProjectRecord,
    Role,
    project_record,
)
from app.projects.tables import Membership, Project
from app.security.principal import Principal, PrincipalKind
from app.text import invisible_problem

MAX_PROJECT_NAME_LENGTH = 100


@dataclass(frozen=True)
class MemberRecord:
    project_id: uuid.UUID
    user_id: uuid.UUID
    role: Role
    joined_at: datetime


class ProjectService:
    def __init__(
        self,
        *,
        clock: Clock,
        access: AccessControl,
        accounts: AccountService,
        audit: AuditService,
    ) -> None:
        self._clock = clock
        self._access = access
        self._accounts = accounts
        self._audit = audit

    async def project(self, principal: Principal, project_id: uuid.UUID) -> ProjectAccess | None:
        """One project and the caller's standing in it, or None when it is not theirs."""
        return await self._access.find(principal, project_id)

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
            SortOrder(Project.created_at),
            Project.id,
            project_record,
        )
        roles = await self._access.roles(principal, [project.id for project, _ in projects.items])
        accesses = [
            (
                ProjectAccess(project=project, principal=principal, role=roles.get(project.id)),
                cursor,
            )
            for project, cursor in projects.items
        ]
        for access, _ in accesses:
            self._access.remember(access)
        return Page(
            items=accesses,
            has_next_page=projects.has_next_page,
            has_previous_page=projects.has_previous_page,
            total_count=projects.total_count,
        )

    async def members(
        self, principal: Principal, project_id: uuid.UUID, page: PageRequest
    ) -> Page[MemberRecord]:
        await self._access.authorize(
            principal, project_id, Permission.READ_MEMBERS, action="read the members"
        )
        in_project = Membership.project == project_id
        return await keyset_page(
            Membership.select().where(in_project),
            Membership.count().where(in_project),
            page,
            SortOrder(Membership.created_at),
            Membership.id,
            _member_record,
        )

    async def add_member(
        self, principal: Principal, *, project_id: uuid.UUID, email: str, role: Role
    ) -> MemberRecord:
        await self._access.authorize(
            principal, project_id, Permission.MANAGE_MEMBERS, action="add members"
        )
        user = await self._accounts.user_by_email(email)
        if user is None:
            raise NotFound(
                "No account uses this email; ask them to sign up first.", field=("email",)
            )
        try:
            async with db.transaction():
                await self._access.owner_under_lock(principal, project_id, "add members")
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

    async def update_member_role(
        self, principal: Principal, *, project_id: uuid.UUID, user_id: uuid.UUID, role: Role
    ) -> MemberRecord:
        """Change a member's role (OWNER); the last owner keeps the role."""
        async with db.transaction():
            # Two owners demoting each other at once must not leave the project ownerless.
            await self._access.owner_under_lock(principal, project_id, "change roles")
            row = await _membership_row(project_id, user_id)
            if row is None:
                raise NotFound("This person is not a member of the project.", field=("userId",))
            previous = Role(row["role"])
            demoted = previous is Role.OWNER and role is not Role.OWNER
            if demoted and await _owner_count(project_id) <= 1:
                raise LastOwner(
                    "A project needs at least one owner: make another member an owner first.",
                    field=("role",),
                )
            if previous is not role:
                await Membership.update({Membership.role: role.value}).where(
                    Membership.id == row["id"]
                )
                await self._audit.record(
                    principal,
                    action="project.member_role_change",
                    target_type="user",
                    target_id=str(user_id),
                    project_id=project_id,
                    details={"from": previous.value, "to": role.value},
                )
        self._access.forget(principal, project_id)
        return MemberRecord(
            project_id=project_id, user_id=user_id, role=role, joined_at=row["created_at"]
        )

    async def remove_member(
        self, principal: Principal, *, project_id: uuid.UUID, user_id: uuid.UUID
    ) -> None:
        async with db.transaction():
            # Two owners removing each other at once must not leave the project ownerless.
            await self._access.owner_under_lock(principal, project_id, "remove members")
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
        self._access.forget(principal, project_id)

    async def budgets(self, principal: Principal, project_id: uuid.UUID) -> Budgets:
        """The project's token and spend budgets (every key's requests count against them)."""
        await self._access.access(principal, project_id)
        row = await Project.select(Project.budgets).where(Project.id == project_id).first()
        return budgets_from_json(_json_text(row["budgets"]) if row else None)

    async def update_budgets(
        self, principal: Principal, *, project_id: uuid.UUID, budgets: BudgetsInput
    ) -> Budgets:
        """Replace the project's budgets (OWNER or ADMIN); they apply from the next request."""
        await self._access.authorize(
            principal, project_id, Permission.MANAGE_API_KEYS, action="change the budget"
        )
        checked = validate_budgets(budgets)
        async with db.transaction():
            await self._access.authorize_write(
                principal,
                project_id,
                Permission.MANAGE_API_KEYS,
                action="change the budget",
                updates_project=True,
            )
            await Project.update({Project.budgets: budgets_to_json(checked)}).where(
                Project.id == project_id
            )
            await self._audit.record(
                principal,
                action="project.update_budget",
                target_type="project",
                target_id=str(project_id),
                project_id=project_id,
                details=json.loads(budgets_to_json(checked)),
            )
        return checked

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


def _json_text(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else json.dumps(value)


def _valid_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput.single("name", "Enter a project name.")
    if len(name) > MAX_PROJECT_NAME_LENGTH:
        raise InvalidInput.single(
            "name", f"Use at most {MAX_PROJECT_NAME_LENGTH} characters for the name."
        )
    if problem := invisible_problem(name, "project name"):
        raise InvalidInput.single("name", problem)
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


def _member_record(row: dict[str, Any]) -> MemberRecord:
    return MemberRecord(
        project_id=row["project"],
        user_id=row["user"],
        role=Role(row["role"]),
        joined_at=row["created_at"],
    )
