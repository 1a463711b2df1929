"""GraphQL face of webhooks: `Project.webhooks`, `Webhook.deliveries` and the mutations."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import strawberry

from app.errors import DomainError
from app.graphql.context import AppInfo
from app.graphql.cost import list_bound
from app.graphql.enums import described_enum
from app.graphql.errors import MutationInput, QueryError, UserError, attempt, user_errors_field
from app.graphql.ids import parse_id
from app.graphql.pagination import (
    AfterArgument,
    Connection,
    FirstArgument,
    connection_of,
    page_request,
)
from app.graphql.permissions import IsAuthenticated
from app.webhooks.events import DeliveryStatus, WebhookEvent
from app.webhooks.service import (
    MAX_WEBHOOKS_PER_PROJECT,
    DeliveryRecord,
    WebhookChanges,
    WebhookRecord,
    WebhookWithSecret,
)

WebhookEventEnum = described_enum(
    WebhookEvent,
    name="WebhookEvent",
    description="What a webhook can be told. The payload's `type` is given with each value.",
    values={
        WebhookEvent.SECURITY_ALERT_RAISED: "`security_alert.raised`: the usage monitor raised "
        "a security alert (unfamiliar address, spike, revoked key in use, leak).",
        WebhookEvent.KEY_LEAKED: "`api_key.leaked`: a project API key was reported found in "
        "public (GitHub secret scanning); revoked or not per the server's setting.",
        WebhookEvent.KEY_EXPIRES_SOON: "`api_key.expires_soon`: a key entered its expiry "
        "warning period (sent once per key).",
        WebhookEvent.KEY_ROTATION_DUE: "`api_key.rotation_due`: a key reached the rotation "
        "period (sent once per key).",
        WebhookEvent.BUDGET_THRESHOLD_REACHED: "`budget.threshold_reached`: a key's or the "
        "project's token or spend budget passed 80 % or 100 % in its period (once each).",
        WebhookEvent.API_KEY_CREATED: "`api_key.created`: a project API key was created "
        "(also by a rotation).",
        WebhookEvent.API_KEY_DELETED: "`api_key.deleted`: a project API key was deleted or "
        "revoked.",
        WebhookEvent.LLM_API_KEY_CHANGED: "`llm_api_key.changed`: a provider key was added, "
        "updated or deleted (`data.change`).",
        WebhookEvent.WEBHOOK_TEST: "`webhook.test`: sent by sendTestWebhook; cannot be "
        "subscribed to.",
    },
)
DeliveryStatusEnum = described_enum(
    DeliveryStatus,
    name="WebhookDeliveryStatus",
    description="Where a delivery stands.",
    values={
        DeliveryStatus.PENDING: "Not delivered yet: queued, or waiting for its next attempt.",
        DeliveryStatus.SUCCEEDED: "The endpoint answered 2xx.",
        DeliveryStatus.FAILED: "Every attempt within 24 hours failed (a test delivery: its "
        "one attempt), or the webhook was disabled.",
    },
)


@strawberry.type(
    name="Webhook",
    description="An HTTPS endpoint told of the project's events, signed per the Standard "
    "Webhooks specification (`webhook-id`, `webhook-timestamp`, `webhook-signature`).",
)
class WebhookType:
    id: strawberry.ID = strawberry.field(description="The webhook's id.")
    url: str = strawberry.field(description="Where deliveries are POSTed.")
    events: list[WebhookEventEnum] = strawberry.field(  # type: ignore[valid-type]
        description="The events it receives.", metadata=list_bound(len(WebhookEvent))
    )
    enabled: bool = strawberry.field(
        description="False: nothing is sent (disabled by a person, or after 3 days of failures)."
    )
    created_at: datetime = strawberry.field(description="When it was added.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    failing_since: datetime | None = strawberry.field(
        description="Since when every attempt has failed; null while deliveries succeed."
    )
    disabled_at: datetime | None = strawberry.field(
        description="When it was disabled for failing; null otherwise."
    )
    disabled_reason: str | None = strawberry.field(
        description="Why it was disabled for failing, in words; null otherwise."
    )
    previous_secret_valid_until: datetime | None = strawberry.field(
        description="After a rotation, deliveries carry a signature with the previous secret "
        "too until this time; null when there is none."
    )

    @strawberry.field(description="Its deliveries, newest first.")
    async def deliveries(
        self, info: AppInfo, first: FirstArgument = None, after: AfterArgument = None
    ) -> Connection[WebhookDeliveryType]:
        context = info.context
        page = context.services.webhooks.deliveries(
            context.principal, uuid.UUID(self.id), page_request(first, after)
        )
        return await connection_of(info, page, WebhookDeliveryType.of)

    @classmethod
    def of(cls, webhook: WebhookRecord) -> WebhookType:
        return cls(
            id=strawberry.ID(str(webhook.id)),
            url=webhook.url,
            events=list(webhook.events),
            enabled=webhook.enabled,
            created_at=webhook.created_at,
            updated_at=webhook.updated_at,
            failing_since=webhook.failing_since,
            disabled_at=webhook.disabled_at,
            disabled_reason=webhook.disabled_reason,
            previous_secret_valid_until=webhook.previous_secret_until,
        )


@strawberry.type(
    name="WebhookDelivery",
    description="One message to one webhook, and how its attempts went. Bodies are not shown.",
)
class WebhookDeliveryType:
    id: strawberry.ID = strawberry.field(description="The delivery's id.")
    message_id: str = strawberry.field(
        description="The `webhook-id` header: the same on every attempt, for receivers to "
        "drop duplicates."
    )
    event: WebhookEventEnum = strawberry.field(  # type: ignore[valid-type]
        description="What it reports."
    )
    status: DeliveryStatusEnum = strawberry.field(  # type: ignore[valid-type]
        description="Where it stands."
    )
    attempts: int = strawberry.field(description="Attempts made so far.")
    next_attempt_at: datetime | None = strawberry.field(
        description="When the next attempt is due; null once it succeeded or failed for good."
    )
    last_attempt_at: datetime | None = strawberry.field(
        description="When the last attempt was made; null before the first."
    )
    response_status: int | None = strawberry.field(
        description="The HTTP status of the last attempt; null when no answer came."
    )
    response_time_ms: int | None = strawberry.field(
        description="How long the last attempt took, in milliseconds."
    )
    error: str | None = strawberry.field(
        description="Why the last attempt failed, in words (e.g. `HTTP 500`, `could not "
        "connect`, `redirect not followed`); null after a success."
    )
    created_at: datetime = strawberry.field(description="When the event happened.")
    delivered_at: datetime | None = strawberry.field(
        description="When an attempt succeeded; null until then."
    )

    @classmethod
    def of(cls, delivery: DeliveryRecord) -> WebhookDeliveryType:
        return cls(
            id=strawberry.ID(str(delivery.id)),
            message_id=delivery.message_id,
            event=delivery.event,
            status=delivery.status,
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at,
            last_attempt_at=delivery.last_attempt_at,
            response_status=delivery.response_status,
            response_time_ms=delivery.response_ms,
            error=delivery.last_error,
            created_at=delivery.created_at,
            delivered_at=delivery.delivered_at,
        )


async def project_webhooks(info: AppInfo, project_id: uuid.UUID) -> list[WebhookType]:
    context = info.context
    try:
        webhooks = await context.services.webhooks.webhooks(context.principal, project_id)
    except DomainError as error:
        raise QueryError(error) from None
    return [WebhookType.of(webhook) for webhook in webhooks]


async def project_webhook(info: AppInfo, project_id: uuid.UUID, raw_id: str) -> WebhookType | None:
    context = info.context
    try:
        webhook_id = parse_id(raw_id)
        webhook = await context.services.webhooks.webhook(context.principal, project_id, webhook_id)
    except DomainError as error:
        if error.code.value == "NOT_FOUND":
            return None
        raise QueryError(error) from None
    return WebhookType.of(webhook) if webhook else None


WEBHOOKS_BOUND = MAX_WEBHOOKS_PER_PROJECT


@strawberry.input(description="A new webhook.")
class AddWebhookInput:
    project_id: strawberry.ID = strawberry.field(description="The project it belongs to.")
    url: str = strawberry.field(
        description="http(s) URL, at most 2048 characters, without credentials; addresses "
        "that resolve to private, loopback, link-local or metadata ranges are refused when "
        "delivering (and literal ones at once)."
    )
    events: list[WebhookEventEnum] = strawberry.field(  # type: ignore[valid-type]
        description="One or more events to receive (not WEBHOOK_TEST)."
    )
    enabled: bool = strawberry.field(
        default=True, description="Whether deliveries are sent from the start; default true."
    )


@strawberry.type(description="The result of addWebhook.")
class AddWebhookPayload:
    webhook: WebhookType | None = strawberry.field(description="The webhook; null on errors.")
    secret: str | None = strawberry.field(
        description="The signing secret (`whsec_…`), shown this once: verify deliveries with it."
    )
    user_errors: list[UserError] = user_errors_field()


@strawberry.input(description="Changes to a webhook; null fields stay as they are.")
class UpdateWebhookInput:
    id: strawberry.ID = strawberry.field(description="The webhook.")
    url: str | None = strawberry.field(default=None, description="As in addWebhook.")
    events: list[WebhookEventEnum] | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="Replaces the list; at least one."
    )
    enabled: bool | None = strawberry.field(
        default=None,
        description="false stops deliveries (pending ones fail); true starts them again and "
        "clears a disabling for failures.",
    )


@strawberry.type(description="The result of updateWebhook.")
class UpdateWebhookPayload:
    webhook: WebhookType | None = strawberry.field(description="The webhook; null on errors.")
    user_errors: list[UserError] = user_errors_field()


@strawberry.input(description="Which webhook.")
class WebhookIdInput:
    id: strawberry.ID = strawberry.field(description="The webhook.")


@strawberry.type(description="The result of deleteWebhook.")
class DeleteWebhookPayload:
    deleted_webhook_id: strawberry.ID | None = strawberry.field(
        description="The id of the webhook deleted, with its delivery log; null on errors."
    )
    user_errors: list[UserError] = user_errors_field()


@strawberry.type(description="The result of rotateWebhookSecret.")
class RotateWebhookSecretPayload:
    webhook: WebhookType | None = strawberry.field(description="The webhook; null on errors.")
    secret: str | None = strawberry.field(
        description="The new signing secret, shown this once. Deliveries carry signatures "
        "with both secrets for 24 hours."
    )
    user_errors: list[UserError] = user_errors_field()


@strawberry.type(description="The result of sendTestWebhook.")
class SendTestWebhookPayload:
    delivery: WebhookDeliveryType | None = strawberry.field(
        description="The test delivery as queued (PENDING); read `Webhook.deliveries` for how "
        "it went. Null on errors."
    )
    user_errors: list[UserError] = user_errors_field()


_ERRORS = "Errors: INVALID (field named), NOT_FOUND, FORBIDDEN (OWNER and ADMIN only)."


@strawberry.type
class WebhookMutations:
    @strawberry.mutation(
        description=f"Register an endpoint (at most {MAX_WEBHOOKS_PER_PROJECT} per project). "
        + _ERRORS,
        permission_classes=[IsAuthenticated],
    )
    async def add_webhook(
        self, info: AppInfo, input: Annotated[AddWebhookInput, MutationInput]
    ) -> AddWebhookPayload:
        context = info.context

        async def add() -> WebhookWithSecret:
            return await context.services.webhooks.add(
                context.principal,
                project_id=parse_id(input.project_id, "projectId"),
                url=input.url,
                events=[WebhookEvent(event) for event in input.events],
                enabled=input.enabled,
            )

        added, errors = await attempt(add)
        if added is None:
            return AddWebhookPayload(webhook=None, secret=None, user_errors=errors)
        return AddWebhookPayload(
            webhook=WebhookType.of(added.webhook), secret=added.secret, user_errors=[]
        )

    @strawberry.mutation(
        description="Change a webhook's URL, events or enabled state. " + _ERRORS,
        permission_classes=[IsAuthenticated],
    )
    async def update_webhook(
        self, info: AppInfo, input: Annotated[UpdateWebhookInput, MutationInput]
    ) -> UpdateWebhookPayload:
        context = info.context

        async def update() -> WebhookRecord:
            return await context.services.webhooks.update(
                context.principal,
                webhook_id=parse_id(input.id),
                changes=WebhookChanges(
                    url=input.url,
                    events=[WebhookEvent(e) for e in input.events]
                    if input.events is not None
                    else None,
                    enabled=input.enabled,
                ),
            )

        webhook, errors = await attempt(update)
        return UpdateWebhookPayload(
            webhook=WebhookType.of(webhook) if webhook else None, user_errors=errors
        )

    @strawberry.mutation(
        description="Delete a webhook and its delivery log; nothing more is sent to it. "
        "Errors: NOT_FOUND, FORBIDDEN.",
        permission_classes=[IsAuthenticated],
    )
    async def delete_webhook(
        self, info: AppInfo, input: Annotated[WebhookIdInput, MutationInput]
    ) -> DeleteWebhookPayload:
        context = info.context

        async def delete() -> uuid.UUID:
            return await context.services.webhooks.delete(
                context.principal, webhook_id=parse_id(input.id)
            )

        deleted, errors = await attempt(delete)
        return DeleteWebhookPayload(
            deleted_webhook_id=strawberry.ID(str(deleted)) if deleted else None,
            user_errors=errors,
        )

    @strawberry.mutation(
        description="A new signing secret, shown once; the previous one keeps signing for 24 "
        "hours. Errors: NOT_FOUND, FORBIDDEN.",
        permission_classes=[IsAuthenticated],
    )
    async def rotate_webhook_secret(
        self, info: AppInfo, input: Annotated[WebhookIdInput, MutationInput]
    ) -> RotateWebhookSecretPayload:
        context = info.context

        async def rotate() -> WebhookWithSecret:
            return await context.services.webhooks.rotate_secret(
                context.principal, webhook_id=parse_id(input.id)
            )

        rotated, errors = await attempt(rotate)
        if rotated is None:
            return RotateWebhookSecretPayload(webhook=None, secret=None, user_errors=errors)
        return RotateWebhookSecretPayload(
            webhook=WebhookType.of(rotated.webhook), secret=rotated.secret, user_errors=[]
        )

    @strawberry.mutation(
        description="Queue a `webhook.test` delivery to this webhook, enabled or not; it is "
        "tried once. Errors: NOT_FOUND, FORBIDDEN.",
        permission_classes=[IsAuthenticated],
    )
    async def send_test_webhook(
        self, info: AppInfo, input: Annotated[WebhookIdInput, MutationInput]
    ) -> SendTestWebhookPayload:
        context = info.context

        async def send() -> DeliveryRecord:
            return await context.services.webhooks.send_test(
                context.principal, webhook_id=parse_id(input.id)
            )

        delivery, errors = await attempt(send)
        return SendTestWebhookPayload(
            delivery=WebhookDeliveryType.of(delivery) if delivery else None, user_errors=errors
        )
