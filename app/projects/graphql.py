"""GraphQL face of projects: Project, members, and the project mutations."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import strawberry

from app.accounts.graphql import UserType
from app.api_keys.graphql import (
    ApiKeyOrderInput,
    ApiKeyStatusEnum,
    ApiKeyType,
    api_key_by_id,
    api_keys_connection,
)
from app.api_keys.policy import Budgets
from app.api_keys.policy_graphql import (
    BudgetInput,
    BudgetUsageType,
    SpendBudgetInput,
    SpendBudgetType,
    TokenBudgetType,
    budget_types,
    budgets_input,
)
from app.api_keys.service import ApiKeyStatus, KeyFilter
from app.audit.graphql import (
    AUDIT_ACTIONS_BOUND,
    AuditEventType,
    audit_actions_of,
    audit_events_connection,
)
from app.audit.service import AuditFilter
from app.errors import NotFound
from app.graphql.context import AppInfo
from app.graphql.cost import list_bound
from app.graphql.enums import described_enum
from app.graphql.errors import MutationInput, UserError, attempt, user_errors_field
from app.graphql.ids import parse_id
from app.graphql.pagination import (
    AfterArgument,
    Connection,
    FirstArgument,
    connection_of,
    page_request,
)
from app.graphql.permissions import IsAuthenticated
from app.llm_keys.catalog import Provider
from app.llm_keys.graphql import LlmApiKeyType, LlmModelType, llm_api_keys, project_models
from app.llm_keys.service import MAX_KEY_MODELS
from app.projects.access import Permission, ProjectAccess, Role
from app.projects.service import MemberRecord
from app.usage.graphql import (
    SecurityAlertType,
    UsageGranularity,
    UsageSeriesType,
    project_usage,
    security_alerts,
    usage_points,
)
from app.webhooks.graphql import (
    WEBHOOKS_BOUND,
    WebhookType,
    project_webhook,
    project_webhooks,
)

KeyIdArgument = Annotated[
    strawberry.ID, strawberry.argument(description="The key's id (`ApiKey.id`).")
]
ProjectRole = described_enum(
    Role,
    name="ProjectRole",
    description="What a member may do in a project (see `Project.viewerCan`).",
    values={
        Role.OWNER: "Everything an ADMIN may do, and manage members and roles; a project "
        "always has at least one.",
        Role.ADMIN: "Manages API keys, provider keys, budgets, webhooks and security alerts; "
        "reads the audit log.",
        Role.MEMBER: "Reads the project (keys, usage, members, provider keys, alerts); changes "
        "nothing.",
    },
)


@strawberry.type(name="ProjectMember", description="A person's membership of a project.")
class ProjectMemberType:
    role: ProjectRole = strawberry.field(  # type: ignore[valid-type]
        description="Their role in the project."
    )
    joined_at: datetime = strawberry.field(
        description="When they were added, or created the project."
    )
    user_id: strawberry.Private[Any]

    @strawberry.field(description="The person; null when their account no longer exists.")
    async def user(self, info: AppInfo) -> UserType | None:
        user = await info.context.users.load(self.user_id)
        return UserType.of(user) if user else None

    @classmethod
    def of(cls, member: MemberRecord) -> ProjectMemberType:
        return cls(role=member.role, joined_at=member.joined_at, user_id=member.user_id)


@strawberry.type(
    name="ProjectPermissions",
    description="What the caller may do in this project; a console enables its actions by these.",
)
class ProjectPermissionsType:
    manage_api_keys: bool = strawberry.field(
        description="Create, rename, rotate and delete project API keys (OWNER, ADMIN)."
    )
    manage_llm_api_keys: bool = strawberry.field(
        description="Add, update and delete provider keys (OWNER, ADMIN)."
    )
    manage_members: bool = strawberry.field(
        description="Add and remove members, change roles (OWNER)."
    )
    acknowledge_security_alerts: bool = strawberry.field(
        description="Acknowledge security alerts (OWNER, ADMIN)."
    )
    read_members: bool = strawberry.field(
        description="Read `members` (every role; not project API keys)."
    )
    read_llm_api_keys: bool = strawberry.field(
        description="Read `llmApiKeys` (every role; not project API keys)."
    )
    read_security_alerts: bool = strawberry.field(
        description="Read `securityAlerts` (every role; not project API keys)."
    )
    read_client_ips: bool = strawberry.field(
        description="Read keys' `clientIps`, `usage24h.lastUsedIp` and `createdBy` (every "
        "role; not project API keys)."
    )
    read_audit_log: bool = strawberry.field(
        description="Read `auditEvents` and `auditActions` (OWNER, ADMIN)."
    )
    manage_webhooks: bool = strawberry.field(
        description="Add, change, test and delete webhooks, rotate their secrets (OWNER, ADMIN)."
    )
    read_webhooks: bool = strawberry.field(
        description="See webhooks and their delivery logs (OWNER, ADMIN): an endpoint's URL "
        "can carry the receiving service's token."
    )

    @classmethod
    def of(cls, access: ProjectAccess) -> ProjectPermissionsType:
        return cls(**{permission.value: access.can(permission) for permission in Permission})


@strawberry.type(name="ProjectBudget", description="Null fields: no such budget.")
class ProjectBudgetType:
    token_budget: TokenBudgetType | None = strawberry.field(
        description="Tokens per UTC day or month, every key's requests together."
    )
    spend_budget_usd: SpendBudgetType | None = strawberry.field(
        description="USD per UTC day or month, every key's requests together."
    )

    @classmethod
    def of(cls, budgets: Budgets) -> ProjectBudgetType:
        tokens, spend = budget_types(budgets)
        return cls(token_budget=tokens, spend_budget_usd=spend)


@strawberry.type(
    name="Project",
    description="A workspace: its members, API keys, provider keys, budgets, usage, alerts, "
    "webhooks and audit trail.",
)
class ProjectType:
    id: strawberry.ID = strawberry.field(description="The project's id (a UUID).")
    name: str = strawberry.field(description="Its name (1-100 characters).")
    created_at: datetime = strawberry.field(description="When it was created.")
    viewer_role: ProjectRole | None = strawberry.field(  # type: ignore[valid-type]
        description="The caller's role; null when the caller is one of the project's API keys."
    )
    access: strawberry.Private[ProjectAccess]

    @classmethod
    def of(cls, access: ProjectAccess) -> ProjectType:
        project = access.project
        return cls(
            id=strawberry.ID(str(project.id)),
            name=project.name,
            created_at=project.created_at,
            viewer_role=access.role,
            access=access,
        )

    @property
    def _id(self) -> uuid.UUID:
        return self.access.project.id

    @strawberry.field(
        description="The project's token and spend budgets: every key's requests count against "
        "them, with each key's own."
    )
    async def budget(self, info: AppInfo) -> ProjectBudgetType:
        context = info.context
        budgets = await context.services.projects.budgets(context.principal, self._id)
        return ProjectBudgetType.of(budgets)

    @strawberry.field(description="Where the project's budgets stand this period.")
    async def budget_usage(self, info: AppInfo) -> BudgetUsageType:
        context = info.context
        budgets = await context.services.projects.budgets(context.principal, self._id)
        usage = await context.services.usage.budget_usage(
            context.principal, self._id, budgets, None
        )
        return BudgetUsageType.of(usage)

    @strawberry.field(description="What the caller may do in this project.")
    def viewer_can(self) -> ProjectPermissionsType:
        return ProjectPermissionsType.of(self.access)

    @strawberry.field(description="Members, newest first.")
    async def members(
        self, info: AppInfo, first: FirstArgument = None, after: AfterArgument = None
    ) -> Connection[ProjectMemberType]:
        context = info.context
        members = context.services.projects.members(
            context.principal, self._id, page_request(first, after)
        )
        return await connection_of(info, members, ProjectMemberType.of)

    @strawberry.field(
        description="Live API keys, newest first unless `orderBy` says otherwise; `search` "
        "matches the note (case-insensitive) or the exact key id; `status` keeps ACTIVE or "
        "EXPIRED ones."
    )
    async def api_keys(
        self,
        info: AppInfo,
        first: FirstArgument = None,
        after: AfterArgument = None,
        search: Annotated[
            str | None,
            strawberry.argument(
                description="At most 200 characters (longer fails with INVALID): keys whose "
                "note contains it, ignoring case, or whose id is exactly it; blank: every key."
            ),
        ] = None,
        status: Annotated[
            ApiKeyStatusEnum | None,  # type: ignore[valid-type]
            strawberry.argument(description="Only ACTIVE or only EXPIRED keys; null: both."),
        ] = None,
        order_by: Annotated[
            ApiKeyOrderInput | None,
            strawberry.argument(description="The sort; null: newest first (CREATED_AT, DESC)."),
        ] = None,
    ) -> Connection[ApiKeyType]:
        which = KeyFilter(search=search, status=ApiKeyStatus(status) if status else None)
        return await api_keys_connection(info, self._id, (first, after), which, order_by)

    @strawberry.field(description="One live API key of this project, or null.")
    async def api_key(self, info: AppInfo, id: KeyIdArgument) -> ApiKeyType | None:
        return await api_key_by_id(info, self._id, str(id))

    @strawberry.field(
        description="Requests, errors and tokens over time, for the project or one key.",
        name="usage",
        metadata=list_bound(usage_points),
    )
    async def usage(
        self,
        info: AppInfo,
        from_: Annotated[
            datetime,
            strawberry.argument(
                name="from",
                description="Start, inclusive; the first point starts at its UTC hour (HOUR) or "
                "UTC day (DAY).",
            ),
        ],
        to: Annotated[
            datetime,
            strawberry.argument(
                description="End, exclusive: after `from` and at most 400 days later (31 days "
                "for HOUR); otherwise the field fails with a query error (INVALID)."
            ),
        ],
        granularity: Annotated[
            UsageGranularity,  # type: ignore[valid-type]
            strawberry.argument(description="One point per UTC hour or per UTC day."),
        ],
        api_key_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description="Only this live key's usage (its id); null: the whole project. A "
                "key the project does not have fails with NOT_FOUND."
            ),
        ] = None,
    ) -> UsageSeriesType:
        return await project_usage(
            info, self._id, from_, to, granularity, str(api_key_id) if api_key_id else None
        )

    @strawberry.field(
        description="The project's webhooks, oldest first (owners and admins).",
        metadata=list_bound(WEBHOOKS_BOUND),
    )
    async def webhooks(self, info: AppInfo) -> list[WebhookType]:
        return await project_webhooks(info, self._id)

    @strawberry.field(description="One webhook of the project; null when there is none.")
    async def webhook(
        self,
        info: AppInfo,
        id: Annotated[strawberry.ID, strawberry.argument(description="The webhook's id.")],
    ) -> WebhookType | None:
        return await project_webhook(info, self._id, str(id))

    @strawberry.field(description="Signs of a leaked or misused key, newest first.")
    async def security_alerts(
        self,
        info: AppInfo,
        first: FirstArgument = None,
        after: AfterArgument = None,
        include_acknowledged: Annotated[
            bool,
            strawberry.argument(
                description="Acknowledged alerts too; without it, only the open ones."
            ),
        ] = False,
        only_acknowledged: Annotated[
            bool,
            strawberry.argument(
                description="Only the acknowledged alerts (for a list of them beside the open "
                "ones); wins over `includeAcknowledged`."
            ),
        ] = False,
        api_key_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only the alerts about this API key (its id)."),
        ] = None,
    ) -> Connection[SecurityAlertType]:
        return await security_alerts(
            info,
            self._id,
            first,
            after,
            include_acknowledged,
            only_acknowledged=only_acknowledged,
            api_key_id=str(api_key_id) if api_key_id is not None else None,
        )

    @strawberry.field(
        description="The project's provider keys, one per provider (people only).",
        metadata=list_bound(len(Provider)),
    )
    async def llm_api_keys(self, info: AppInfo) -> list[LlmApiKeyType]:
        return await llm_api_keys(info, self._id)

    @strawberry.field(
        description="Every model the project can use, across its provider keys.",
        metadata=list_bound(len(Provider) * MAX_KEY_MODELS),
    )
    async def models(self, info: AppInfo) -> list[LlmModelType]:
        return await project_models(info, self._id)

    @strawberry.field(
        description="What was done in this project, newest first (owners and admins). "
        "Filters combine: every one given must hold."
    )
    async def audit_events(
        self,
        info: AppInfo,
        first: FirstArgument = None,
        after: AfterArgument = None,
        action: Annotated[
            str | None,
            strawberry.argument(
                description="Only events of this action, e.g. `api_key.create` "
                "(see `auditActions`)."
            ),
        ] = None,
        actor_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description="Only events done by this person (a user id) or this project "
                "API key (a key id)."
            ),
        ] = None,
        target_id: Annotated[
            str | None,
            strawberry.argument(description="Only events about this object, e.g. an API key's id."),
        ] = None,
    ) -> Connection[AuditEventType]:
        only = AuditFilter(
            action=action,
            actor_id=str(actor_id) if actor_id is not None else None,
            target_id=target_id,
        )
        return await audit_events_connection(info, self._id, page_request(first, after), only)

    @strawberry.field(
        description="The actions this project's audit trail holds, sorted, for a filter to "
        "offer (owners and admins).",
        metadata=list_bound(AUDIT_ACTIONS_BOUND),
    )
    async def audit_actions(self, info: AppInfo) -> list[str]:
        return await audit_actions_of(info, self._id)


@strawberry.type
class ProjectQueries:
    @strawberry.field(
        description="Projects the caller belongs to, newest first.",
        permission_classes=[IsAuthenticated],
    )
    async def projects(
        self, info: AppInfo, first: FirstArgument = None, after: AfterArgument = None
    ) -> Connection[ProjectType]:
        context = info.context
        projects = context.services.projects.projects_of(
            context.principal, page_request(first, after)
        )
        return await connection_of(info, projects, ProjectType.of)

    @strawberry.field(
        description="One project, or null when it does not exist or is not the caller's.",
        permission_classes=[IsAuthenticated],
    )
    async def project(
        self,
        info: AppInfo,
        id: Annotated[
            strawberry.ID,
            strawberry.argument(description="The project's id; a malformed one gives null."),
        ],
    ) -> ProjectType | None:
        context = info.context
        try:
            project_id = parse_id(id)
        except NotFound:
            return None
        access = await context.services.projects.project(context.principal, project_id)
        return ProjectType.of(access) if access else None


def _project_id_field() -> Any:
    return strawberry.field(description="The project's id.")


def _member_id_field() -> Any:
    return strawberry.field(description="The member's user id (`User.id`).")


@strawberry.input(description="A new project.")
class CreateProjectInput:
    name: str = strawberry.field(
        description="1-100 characters once trimmed, with no characters that would not show."
    )


@strawberry.type(description="The result of createProject.")
class CreateProjectPayload:
    project: ProjectType | None = strawberry.field(description="The new project; null on errors.")
    user_errors: list[UserError] = user_errors_field()


@strawberry.input(description="A person to add to a project.")
class AddProjectMemberInput:
    project_id: strawberry.ID = _project_id_field()
    email: str = strawberry.field(
        description="The email of an existing account; case and surrounding spaces do not matter."
    )
    role: ProjectRole = strawberry.field(  # type: ignore[valid-type]
        description="The role they get."
    )


@strawberry.type(description="The result of addProjectMember.")
class AddProjectMemberPayload:
    member: ProjectMemberType | None = strawberry.field(
        description="The new membership; null on errors."
    )
    user_errors: list[UserError] = user_errors_field()


@strawberry.input(description="A member to remove.")
class RemoveProjectMemberInput:
    project_id: strawberry.ID = _project_id_field()
    user_id: strawberry.ID = _member_id_field()


@strawberry.type(description="The result of removeProjectMember.")
class RemoveProjectMemberPayload:
    removed_user_id: strawberry.ID | None = strawberry.field(
        description="The id of the person removed; null on errors."
    )
    user_errors: list[UserError] = user_errors_field()


@strawberry.input(description="A member's new role.")
class UpdateProjectMemberRoleInput:
    project_id: strawberry.ID = _project_id_field()
    user_id: strawberry.ID = _member_id_field()
    role: ProjectRole = strawberry.field(  # type: ignore[valid-type]
        description="The role they get; the same role again changes nothing."
    )


@strawberry.type(description="The result of updateProjectMemberRole.")
class UpdateProjectMemberRolePayload:
    member: ProjectMemberType | None = strawberry.field(
        description="The membership with its new role; null on errors."
    )
    user_errors: list[UserError] = user_errors_field()


@strawberry.input(description="The project's budgets, replaced whole.")
class UpdateProjectBudgetInput:
    project_id: strawberry.ID = _project_id_field()
    token_budget: BudgetInput | None = strawberry.field(default=None, description="Null: none.")
    spend_budget_usd: SpendBudgetInput | None = strawberry.field(
        default=None, description="Null: none."
    )


@strawberry.type(description="The result of updateProjectBudget.")
class UpdateProjectBudgetPayload:
    budget: ProjectBudgetType | None = strawberry.field(
        description="The budgets now in force; null on errors."
    )
    user_errors: list[UserError] = user_errors_field()


@strawberry.type
class ProjectMutations:
    @strawberry.mutation(
        description="Replace the project's budgets (OWNER or ADMIN); they apply from the next "
        "request. Errors: INVALID (a limit out of range), NOT_FOUND (the project), FORBIDDEN "
        "(a MEMBER, or a project API key).",
        permission_classes=[IsAuthenticated],
    )
    async def update_project_budget(
        self, info: AppInfo, input: Annotated[UpdateProjectBudgetInput, MutationInput]
    ) -> UpdateProjectBudgetPayload:
        context = info.context
        budgets, errors = await attempt(
            lambda: context.services.projects.update_budgets(
                context.principal,
                project_id=parse_id(input.project_id, "projectId"),
                budgets=budgets_input(input.token_budget, input.spend_budget_usd),
            )
        )
        return UpdateProjectBudgetPayload(
            budget=ProjectBudgetType.of(budgets) if budgets else None, user_errors=errors
        )

    @strawberry.mutation(
        description="Create a project; the caller becomes its OWNER. Errors: INVALID (name), "
        "FORBIDDEN (called with a project API key).",
        permission_classes=[IsAuthenticated],
    )
    async def create_project(
        self, info: AppInfo, input: Annotated[CreateProjectInput, MutationInput]
    ) -> CreateProjectPayload:
        context = info.context
        projects = context.services.projects

        async def create() -> ProjectAccess:
            project = await projects.create(context.principal, name=input.name)
            access = await projects.project(context.principal, project.id)
            assert access is not None  # the creator is its owner
            return access

        access, errors = await attempt(create)
        return CreateProjectPayload(
            project=ProjectType.of(access) if access else None, user_errors=errors
        )

    @strawberry.mutation(
        description="Add an existing account to a project (OWNER only). Errors: NOT_FOUND "
        "(the project, or no account uses the email), FORBIDDEN (not an OWNER), "
        "ALREADY_EXISTS (already a member).",
        permission_classes=[IsAuthenticated],
    )
    async def add_project_member(
        self, info: AppInfo, input: Annotated[AddProjectMemberInput, MutationInput]
    ) -> AddProjectMemberPayload:
        context = info.context

        async def add() -> MemberRecord:
            return await context.services.projects.add_member(
                context.principal,
                project_id=parse_id(input.project_id, "projectId"),
                email=input.email,
                role=Role(input.role),
            )

        member, errors = await attempt(add)
        return AddProjectMemberPayload(
            member=ProjectMemberType.of(member) if member else None, user_errors=errors
        )

    @strawberry.mutation(
        description="Remove a member (OWNER only); the last owner cannot be removed. Errors: "
        "NOT_FOUND (the project, or not a member), FORBIDDEN (not an OWNER), LAST_OWNER.",
        permission_classes=[IsAuthenticated],
    )
    async def remove_project_member(
        self, info: AppInfo, input: Annotated[RemoveProjectMemberInput, MutationInput]
    ) -> RemoveProjectMemberPayload:
        context = info.context

        async def remove() -> strawberry.ID:
            await context.services.projects.remove_member(
                context.principal,
                project_id=parse_id(input.project_id, "projectId"),
                user_id=parse_id(input.user_id, "userId"),
            )
            return input.user_id

        removed, errors = await attempt(remove)
        return RemoveProjectMemberPayload(removed_user_id=removed, user_errors=errors)

    @strawberry.mutation(
        description="Change a member's role (OWNER only). Errors: LAST_OWNER (the project's "
        "only owner cannot stop being one), NOT_FOUND (the project, or not a member), FORBIDDEN "
        "(not an OWNER).",
        permission_classes=[IsAuthenticated],
    )
    async def update_project_member_role(
        self, info: AppInfo, input: Annotated[UpdateProjectMemberRoleInput, MutationInput]
    ) -> UpdateProjectMemberRolePayload:
        context = info.context

        async def change() -> MemberRecord:
            return await context.services.projects.update_member_role(
                context.principal,
                project_id=parse_id(input.project_id, "projectId"),
                user_id=parse_id(input.user_id, "userId"),
                role=Role(input.role),
            )

        member, errors = await attempt(change)
        return UpdateProjectMemberRolePayload(
            member=ProjectMemberType.of(member) if member else None, user_errors=errors
        )


__all__ = ["ProjectMutations", "ProjectQueries", "ProjectType"]
