"""GraphQL face of project API keys."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from app.accounts.graphql import UserType
from app.api_keys.policy_graphql import ApiKeyPolicyInput, ApiKeyPolicyType, BudgetUsageType
from app.api_keys.service import (
    ApiKeyOrder,
    ApiKeyOrderField,
    ApiKeyRecord,
    ApiKeyStatus,
    IssuedKey,
    KeyFilter,
)
from app.graphql.context import AppInfo
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
from app.usage.graphql import ClientIpType, UsageSummaryType, key_client_ips, key_usage_24h

if TYPE_CHECKING:
    import uuid

ApiKeyStatusEnum = described_enum(
    ApiKeyStatus,
    name="ApiKeyStatus",
    description="Whether a live key works, by its expiry (deleted keys are not listed).",
    values={
        ApiKeyStatus.ACTIVE: "It works: it has no expiresAt, or that is still ahead.",
        ApiKeyStatus.EXPIRED: "Its expiresAt has passed: requests with it get HTTP 401. It is "
        "listed until deleted.",
    },
)
ApiKeyOrderFieldEnum = described_enum(
    ApiKeyOrderField,
    name="ApiKeyOrderField",
    description="What a list of keys is sorted by.",
    values={
        ApiKeyOrderField.CREATED_AT: "When the key was created.",
        ApiKeyOrderField.NOTE: "The note, ignoring case.",
        ApiKeyOrderField.EXPIRES_AT: "The expiry; keys that never expire come last.",
        ApiKeyOrderField.LAST_USED_AT: "The last use; keys never used come last.",
    },
)


class OrderDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


described_enum(
    OrderDirection,
    name="OrderDirection",
    description="ASC: smallest, oldest or A first; DESC: the reverse.",
    values={
        OrderDirection.ASC: "Smallest, oldest or A first.",
        OrderDirection.DESC: "Largest, newest or Z first.",
    },
)


@strawberry.input(
    name="ApiKeyOrder",
    description="How to sort keys; keys without the value (never expires, never used) come "
    "last either way.",
)
class ApiKeyOrderInput:
    field: ApiKeyOrderFieldEnum = strawberry.field(  # type: ignore[valid-type]
        default=ApiKeyOrderField.CREATED_AT, description="What to sort by."
    )
    direction: OrderDirection = strawberry.field(
        default=OrderDirection.DESC, description="Which way."
    )

    def to_order(self) -> ApiKeyOrder:
        return ApiKeyOrder(
            field=ApiKeyOrderField(self.field), descending=self.direction is OrderDirection.DESC
        )


@strawberry.type(
    name="ApiKey", description="A project's bearer credential. The secret is never shown again."
)
class ApiKeyType:
    id: strawberry.ID = strawberry.field(description="The key id; also embedded in the key itself.")
    note: str = strawberry.field(
        description="Where the key is used, as its creator wrote it (1-200 characters)."
    )
    start: str = strawberry.field(description="The key's first characters, to tell keys apart.")
    created_at: datetime = strawberry.field(description="When the key was created.")
    expires_at: datetime | None = strawberry.field(
        description="When the key stops working; null: never. A rotated key's is the end of "
        "its grace period, or its own expiry if sooner."
    )
    last_used_at: datetime | None = strawberry.field(
        description="Recorded at most once a minute per key, so it may lag by a minute or so."
    )
    record: strawberry.Private[ApiKeyRecord]

    @strawberry.field(description="EXPIRED from the instant of expiresAt; deleted keys are gone.")
    def status(self, info: AppInfo) -> ApiKeyStatusEnum:  # type: ignore[valid-type]
        return info.context.services.api_keys.status(self.record)

    @strawberry.field(description="Requests and errors in the last 24 hours, and the last use.")
    async def usage24h(self, info: AppInfo) -> UsageSummaryType:
        return await key_usage_24h(info, self.record)

    @strawberry.field(description="Addresses the key was used from, most recently seen first.")
    async def client_ips(
        self, info: AppInfo, first: FirstArgument = None, after: AfterArgument = None
    ) -> Connection[ClientIpType]:
        return await key_client_ips(info, self.record, first, after)

    @strawberry.field(description="Older than the rotation period (90 days by default): rotate it.")
    def rotation_due(self, info: AppInfo) -> bool:
        return info.context.services.usage.rotation_due(self.record.created_at)

    @strawberry.field(description="Expires within the warning period (7 days by default).")
    def expires_soon(self, info: AppInfo) -> bool:
        return info.context.services.usage.expires_soon(self.record.expires_at)

    @strawberry.field(description="What the key may do: scopes, allow-lists, limits, budgets.")
    def policy(self) -> ApiKeyPolicyType:
        return ApiKeyPolicyType.of(self.record.policy)

    @strawberry.field(description="Where the key's budgets stand this period.")
    async def budget_usage(self, info: AppInfo) -> BudgetUsageType:
        context = info.context
        usage = await context.services.usage.budget_usage(
            context.principal, self.record.project_id, self.record.policy.budgets, self.record.id
        )
        return BudgetUsageType.of(usage)

    @strawberry.field(
        description="The key that replaced this one in a rotation; this one works until its "
        "`expiresAt` (the grace period's end)."
    )
    def replaced_by(self) -> strawberry.ID | None:
        return strawberry.ID(self.record.replaced_by) if self.record.replaced_by else None

    @strawberry.field(description="Who created the key; null when read with a project API key.")
    async def created_by(self, info: AppInfo) -> UserType | None:
        if self.record.created_by is None:
            return None
        user = await info.context.users.load(self.record.created_by)
        return UserType.of(user) if user else None

    @classmethod
    def of(cls, key: ApiKeyRecord) -> ApiKeyType:
        return cls(
            id=strawberry.ID(key.id),
            note=key.note,
            start=key.start,
            created_at=key.created_at,
            expires_at=key.expires_at,
            last_used_at=key.last_used_at,
            record=key,
        )


async def api_keys_connection(
    info: AppInfo,
    project_id: uuid.UUID,
    page: tuple[int | None, str | None],
    which: KeyFilter,
    order_by: ApiKeyOrderInput | None,
) -> Connection[ApiKeyType]:
    context = info.context
    keys = context.services.api_keys.keys(
        context.principal,
        project_id,
        page_request(*page),
        which,
        order_by.to_order() if order_by else None,
    )
    return await connection_of(info, keys, ApiKeyType.of)


async def api_key_by_id(info: AppInfo, project_id: uuid.UUID, key_id: str) -> ApiKeyType | None:
    key = await info.context.services.api_keys.key(info.context.principal, project_id, key_id)
    return ApiKeyType.of(key) if key else None


def _key_id_field() -> Any:
    return strawberry.field(description="The key's id (`ApiKey.id`).")


@strawberry.input(description="A new project API key.")
class CreateApiKeyInput:
    project_id: strawberry.ID = strawberry.field(description="The project's id.")
    note: str = strawberry.field(
        description="Where the key is used, e.g. `Production backend`: 1-200 characters once "
        "trimmed, with no characters that would not show."
    )
    expires_at: datetime | None = strawberry.field(
        default=None,
        description="When the key stops working, in the future; null or blank: never.",
    )
    policy: ApiKeyPolicyInput | None = strawberry.field(
        default=None, description="What the key may do; null: both scopes, no limits."
    )


@strawberry.type(description="The result of createApiKey.")
class CreateApiKeyPayload:
    api_key: ApiKeyType | None = strawberry.field(description="The new key; null on errors.")
    secret: str | None = strawberry.field(
        description="The key to send as `Authorization: Bearer …`. Shown only here, once."
    )
    user_errors: list[UserError] = user_errors_field()


@strawberry.input(description="A key's new note.")
class UpdateApiKeyNoteInput:
    id: strawberry.ID = _key_id_field()
    note: str = strawberry.field(
        description="1-200 characters once trimmed, with no characters that would not show."
    )


@strawberry.type(description="The result of updateApiKeyNote.")
class UpdateApiKeyNotePayload:
    api_key: ApiKeyType | None = strawberry.field(
        description="The key with its new note; null on errors."
    )
    user_errors: list[UserError] = user_errors_field()


@strawberry.input(description="The key to delete.")
class DeleteApiKeyInput:
    id: strawberry.ID = _key_id_field()


@strawberry.type(description="The result of deleteApiKey.")
class DeleteApiKeyPayload:
    deleted_api_key_id: strawberry.ID | None = strawberry.field(
        description="The id of the key deleted; null on errors."
    )
    user_errors: list[UserError] = user_errors_field()


@strawberry.input(description="A key's new policy.")
class UpdateApiKeyPolicyInput:
    id: strawberry.ID = _key_id_field()
    policy: ApiKeyPolicyInput = strawberry.field(description="Replaces the whole policy.")


@strawberry.type(description="The result of updateApiKeyPolicy.")
class UpdateApiKeyPolicyPayload:
    api_key: ApiKeyType | None = strawberry.field(
        description="The key with its new policy; null on errors."
    )
    user_errors: list[UserError] = user_errors_field()


@strawberry.input(description="The key to replace, and how.")
class RotateApiKeyInput:
    id: strawberry.ID = _key_id_field()
    grace_period_seconds: int = strawberry.field(
        description="How long the old key keeps working: 0 (revoked at once) to 604,800 (7 days)."
    )
    expires_at: datetime | None = strawberry.field(
        default=None, description="When the new key stops working, in the future; null: never."
    )


@strawberry.type(description="The result of rotateApiKey.")
class RotateApiKeyPayload:
    api_key: ApiKeyType | None = strawberry.field(description="The new key.")
    secret: str | None = strawberry.field(description="The new key's secret, shown only here.")
    previous_api_key: ApiKeyType | None = strawberry.field(
        description="The old key, with the end of its grace period as `expiresAt` (null once "
        "revoked at once: it is gone)."
    )
    user_errors: list[UserError] = user_errors_field()


@strawberry.type
class ApiKeyMutations:
    @strawberry.mutation(
        description="Create a project API key (OWNER or ADMIN); the secret is shown only here. "
        "Errors: INVALID (note, expiresAt or a policy field, each named), NOT_FOUND (the "
        "project), FORBIDDEN (a MEMBER, or a project API key).",
        permission_classes=[IsAuthenticated],
    )
    async def create_api_key(
        self, info: AppInfo, input: Annotated[CreateApiKeyInput, MutationInput]
    ) -> CreateApiKeyPayload:
        context = info.context

        async def create() -> IssuedKey:
            return await context.services.api_keys.create(
                context.principal,
                project_id=parse_id(input.project_id, "projectId"),
                note=input.note,
                expires_at=input.expires_at,
                policy=input.policy.to_input() if input.policy else None,
            )

        issued, errors = await attempt(create)
        if issued is None:
            return CreateApiKeyPayload(api_key=None, secret=None, user_errors=errors)
        return CreateApiKeyPayload(
            api_key=ApiKeyType.of(issued.key), secret=issued.secret, user_errors=[]
        )

    @strawberry.mutation(
        description="Change a key's note; the secret stays the same (OWNER or ADMIN). Errors: "
        "INVALID (note), NOT_FOUND (the key), FORBIDDEN (a MEMBER, or a project API key).",
        permission_classes=[IsAuthenticated],
    )
    async def update_api_key_note(
        self, info: AppInfo, input: Annotated[UpdateApiKeyNoteInput, MutationInput]
    ) -> UpdateApiKeyNotePayload:
        context = info.context
        key, errors = await attempt(
            lambda: context.services.api_keys.update_note(
                context.principal, key_id=str(input.id), note=input.note
            )
        )
        return UpdateApiKeyNotePayload(
            api_key=ApiKeyType.of(key) if key else None, user_errors=errors
        )

    @strawberry.mutation(
        description="Delete (revoke) a key at once: its next request gets 401 (OWNER or ADMIN). "
        "Errors: NOT_FOUND (the key), FORBIDDEN (a MEMBER, or a project API key).",
        permission_classes=[IsAuthenticated],
    )
    async def delete_api_key(
        self, info: AppInfo, input: Annotated[DeleteApiKeyInput, MutationInput]
    ) -> DeleteApiKeyPayload:
        context = info.context
        deleted, errors = await attempt(
            lambda: context.services.api_keys.delete(context.principal, key_id=str(input.id))
        )
        return DeleteApiKeyPayload(
            deleted_api_key_id=strawberry.ID(deleted) if deleted else None, user_errors=errors
        )

    @strawberry.mutation(
        description="Replace a key's policy (OWNER or ADMIN); it applies from the next request "
        "on every server process. Errors: INVALID (each field named), NOT_FOUND (the key), "
        "FORBIDDEN (a MEMBER, or a project API key).",
        permission_classes=[IsAuthenticated],
    )
    async def update_api_key_policy(
        self, info: AppInfo, input: Annotated[UpdateApiKeyPolicyInput, MutationInput]
    ) -> UpdateApiKeyPolicyPayload:
        context = info.context
        key, errors = await attempt(
            lambda: context.services.api_keys.update_policy(
                context.principal, key_id=str(input.id), policy=input.policy.to_input()
            )
        )
        return UpdateApiKeyPolicyPayload(
            api_key=ApiKeyType.of(key) if key else None, user_errors=errors
        )

    @strawberry.mutation(
        description="A new key with the same note and policy, its secret shown once; the old "
        "key keeps working for the grace period, then is refused as expired (OWNER or ADMIN). "
        "Errors: INVALID (gracePeriodSeconds or expiresAt), NOT_FOUND (the key), FORBIDDEN (a "
        "MEMBER, or a project API key).",
        permission_classes=[IsAuthenticated],
    )
    async def rotate_api_key(
        self, info: AppInfo, input: Annotated[RotateApiKeyInput, MutationInput]
    ) -> RotateApiKeyPayload:
        rotated, errors = await attempt(lambda: _rotate(info, input))
        if rotated is None:
            return RotateApiKeyPayload(
                api_key=None, secret=None, previous_api_key=None, user_errors=errors
            )
        issued, previous = rotated
        gone = input.grace_period_seconds == 0
        return RotateApiKeyPayload(
            api_key=ApiKeyType.of(issued.key),
            secret=issued.secret,
            previous_api_key=None if gone else ApiKeyType.of(previous),
            user_errors=[],
        )


async def _rotate(info: AppInfo, input: RotateApiKeyInput) -> tuple[IssuedKey, ApiKeyRecord]:
    context = info.context
    return await context.services.api_keys.rotate(
        context.principal,
        key_id=str(input.id),
        grace_period=timedelta(seconds=max(-1, min(input.grace_period_seconds, 10**9))),
        expires_at=input.expires_at,
    )


__all__ = [
    "ApiKeyMutations",
    "ApiKeyOrderInput",
    "ApiKeyType",
    "api_key_by_id",
    "api_keys_connection",
]
