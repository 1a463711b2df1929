"""GraphQL face of the audit trail: `Project.auditEvents`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

import strawberry
from strawberry.scalars import JSON

from app.accounts.graphql import UserType
from app.audit.service import AuditFilter, AuditRecord
from app.errors import DomainError
from app.graphql.context import AppInfo
from app.graphql.errors import QueryError
from app.graphql.pagination import Connection, connection_of
from app.pagination import PageRequest


@strawberry.type(
    name="AuditEvent",
    description="One change in a project: who did what to which object, when and from where.",
)
class AuditEventType:
    id: strawberry.ID = strawberry.field(description="The event's id.")
    action: str = strawberry.field(description="What happened, e.g. `project.member_add`.")
    target_type: str = strawberry.field(
        description="The kind of object acted on: `project`, `user`, `api_key`, "
        "`llm_api_key`, `webhook` or `security_alert`."
    )
    target_id: str = strawberry.field(
        description="The object's id: a UUID, or an API key's id for `api_key`."
    )
    actor_api_key_id: str | None = strawberry.field(
        description="The project API key that acted, when the actor was a key."
    )
    actor_system: str | None = strawberry.field(
        description="The part of the service that acted on its own, when neither a person nor "
        "a key did: `scanner` (python -m app scan --revoke), `github_secret_scanning` (a "
        "report from GitHub), `webhooks` (an endpoint disabled after failing for days)."
    )
    details: JSON = strawberry.field(description="Non-secret facts about the change.")
    client_ip: str | None = strawberry.field(
        description="The address the request came from; null when unknown, or when the "
        "service acted on its own."
    )
    created_at: datetime = strawberry.field(description="When it happened.")
    actor_user_id: strawberry.Private[Any]

    @strawberry.field(description="The person who acted, when the actor was a person.")
    async def actor(self, info: AppInfo) -> UserType | None:
        if self.actor_user_id is None:
            return None
        user = await info.context.users.load(self.actor_user_id)
        return UserType.of(user) if user else None

    @strawberry.field(
        description="The person the event is about (a member added, given another role or "
        "removed), when it is about a person; they may have left the project since."
    )
    async def target_user(self, info: AppInfo) -> UserType | None:
        if self.target_type != "user":
            return None
        try:
            user_id = uuid.UUID(self.target_id)
        except ValueError:
            return None
        user = await info.context.users.load(user_id)
        return UserType.of(user) if user else None

    @classmethod
    def of(cls, event: AuditRecord) -> AuditEventType:
        return cls(
            id=strawberry.ID(str(event.id)),
            action=event.action,
            target_type=event.target_type,
            target_id=event.target_id,
            actor_api_key_id=event.actor_api_key_id,
            actor_system=event.actor_system,
            details=cast(JSON, event.details),
            client_ip=event.client_ip,
            created_at=event.created_at,
            actor_user_id=event.actor_user_id,
        )


# Actions are a fixed vocabulary of the code; the bound leaves room for the ones to come.
AUDIT_ACTIONS_BOUND = 100


async def audit_events_connection(
    info: AppInfo, project_id: uuid.UUID, page: PageRequest, only: AuditFilter
) -> Connection[AuditEventType]:
    context = info.context
    events = context.services.audit.project_events(context.principal, project_id, page, only)
    return await connection_of(info, events, AuditEventType.of)


async def audit_actions_of(info: AppInfo, project_id: uuid.UUID) -> list[str]:
    context = info.context
    try:
        return await context.services.audit.project_actions(context.principal, project_id)
    except DomainError as error:
        raise QueryError(error) from None
