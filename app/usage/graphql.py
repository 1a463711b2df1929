"""GraphQL face of usage monitoring: series, per-key summaries, client addresses, alerts."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from graphql import GraphQLError
from strawberry.scalars import JSON

from app.errors import DomainError
from app.graphql.context import AppInfo, taking_turns
from app.graphql.cost import COUNTED_ABOVE, list_bound
from app.graphql.enums import described_enum
from app.graphql.errors import MutationInput, QueryError, UserError, attempt, user_errors_field
from app.graphql.ids import parse_id
from app.graphql.pagination import Connection, connection_of, page_request
from app.graphql.permissions import IsAuthenticated
from app.graphql.scalars import parse_datetime
from app.money import usd
from app.usage.alerts import AlertKind
from app.usage.service import (
    MAX_BUCKETS,
    AlertRecord,
    ClientAddress,
    Granularity,
    UsagePoint,
    UsageSeries,
    bucket_count,
)

if TYPE_CHECKING:
    from app.api_keys.graphql import ApiKeyType
    from app.api_keys.service import ApiKeyRecord

UsageGranularity = described_enum(
    Granularity,
    name="UsageGranularity",
    description="How long each point of a usage series is.",
    values={
        Granularity.HOUR: "One UTC hour; ranges of at most 31 days.",
        Granularity.DAY: "One UTC day; ranges of at most 400 days.",
    },
)
SecurityAlertKind = described_enum(
    AlertKind,
    name="SecurityAlertKind",
    description="What a security alert saw; thresholds are the server's defaults. The "
    "`evidence` keys are named with each kind.",
    values={
        AlertKind.UNFAMILIAR_IP: "The key was used from an address it had not used in the "
        "last 30 days, after its first day of use. Evidence: `ip`, `requests`, "
        "`knownAddresses`, `keyInUseSince`.",
        AlertKind.REQUEST_SPIKE: "An hour's requests above 5 times the median of the key's "
        "previous 168 hourly counts (idle hours as 0) and above 100. Evidence: `requests`, "
        "`trailingMedian`, `threshold`.",
        AlertKind.ERROR_SPIKE: "The same on errors (client, server and upstream), above 20. "
        "Evidence: `errors`, `trailingMedian`, `threshold`.",
        AlertKind.REVOKED_KEY_IN_USE: "A deleted or expired key was presented again; once per "
        "key and UTC day. Evidence: `reason`, `ip`, `at`.",
        AlertKind.KEY_LEAKED: "The key was reported found in public; once per key and place. "
        "Evidence: `reportedBy`, `action` (`revoked` or `alerted`), and `url` and `source` "
        "(GitHub) or `place`.",
    },
)


@strawberry.type(
    name="UsagePoint", description="API key traffic in one bucket, or in a whole series."
)
class UsagePointType:
    start: datetime = strawberry.field(
        description="The bucket's start (a UTC hour or day); in `totals`, the first bucket's."
    )
    requests: int = strawberry.field(
        description="Requests made with the project's API keys, to /v1 and to GraphQL."
    )
    errors: int = strawberry.field(description="Client, server and upstream errors.")
    input_tokens: int = strawberry.field(
        description="Input (prompt) tokens, as the providers reported them."
    )
    output_tokens: int = strawberry.field(
        description="Output (completion) tokens, as the providers reported them."
    )
    spend_usd: str = strawberry.field(
        description='USD at the models\' prices, e.g. "0.0125"; tokens of models without a '
        "price are in `unpricedTokens` instead."
    )
    unpriced_tokens: int = strawberry.field(
        description="Input + output tokens of models without a price."
    )

    @classmethod
    def of(cls, point: UsagePoint) -> UsagePointType:
        return cls(
            start=point.start,
            requests=point.requests,
            errors=point.errors,
            input_tokens=point.input_tokens,
            output_tokens=point.output_tokens,
            spend_usd=usd(point.cost_micros),
            unpriced_tokens=point.unpriced_tokens,
        )


@strawberry.type(
    name="UsageSeries", description="Usage over time: one point per bucket of the range asked for."
)
class UsageSeriesType:
    points: list[UsagePointType] = strawberry.field(
        description="Every bucket, empty ones too.",
        # Counted at Project.usage, from its range and granularity.
        metadata=list_bound(COUNTED_ABOVE),
    )
    totals: UsagePointType = strawberry.field(description="Every point added up.")

    @classmethod
    def of(cls, series: UsageSeries) -> UsageSeriesType:
        return cls(
            points=[UsagePointType.of(p) for p in series.points],
            totals=UsagePointType.of(series.totals),
        )


@strawberry.type(name="UsageSummary", description="A key's recent use.")
class UsageSummaryType:
    requests: int = strawberry.field(
        description="Requests in the current UTC hour and the 23 before it."
    )
    errors: int = strawberry.field(
        description="Of those, the ones that failed (client, server or upstream errors)."
    )
    last_used_at: datetime | None = strawberry.field(
        description="The key's last use, recorded at most once a minute; null: never used."
    )
    last_used_ip: str | None = strawberry.field(
        description="The address of that use; null when never used, or when read with a "
        "project API key."
    )


@strawberry.type(name="ClientIp", description="An address a key was used from.")
class ClientIpType:
    ip: str = strawberry.field(description="The client's IPv4 or IPv6 address.")
    first_seen_at: datetime = strawberry.field(description="The key's first use from it.")
    last_seen_at: datetime = strawberry.field(description="The key's latest use from it.")
    requests: int = strawberry.field(description="Requests the key made from it.")

    @classmethod
    def of(cls, address: ClientAddress) -> ClientIpType:
        return cls(
            ip=address.ip,
            first_seen_at=address.first_seen_at,
            last_seen_at=address.last_seen_at,
            requests=address.requests,
        )


@strawberry.type(
    name="SecurityAlert",
    description="A sign that a key leaked or is misused; raised once per condition.",
)
class SecurityAlertType:
    id: strawberry.ID = strawberry.field(description="The alert's id.")
    kind: SecurityAlertKind = strawberry.field(  # type: ignore[valid-type]
        description="What was seen."
    )
    api_key_id: strawberry.ID = strawberry.field(
        description="The id of the key it is about, which may be deleted since."
    )
    window_start: datetime = strawberry.field(
        description="Start of the time the evidence covers: a spike's hour, a revoked key's "
        "UTC day, the first use from an unfamiliar address, a leak's report."
    )
    window_end: datetime = strawberry.field(
        description="End of that time (the same instant for a leak)."
    )
    evidence: JSON = strawberry.field(
        description="Counts, addresses and thresholds behind it: an object whose keys "
        "depend on `kind`."
    )
    created_at: datetime = strawberry.field(description="When the alert was raised.")
    acknowledged_at: datetime | None = strawberry.field(
        description="When it was acknowledged; null while it is open."
    )
    project_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The key the alert is about; null once it is deleted.")
    async def api_key(
        self, info: AppInfo
    ) -> Annotated[ApiKeyType, strawberry.lazy("app.api_keys.graphql")] | None:
        from app.api_keys.graphql import ApiKeyType

        key = await info.context.api_keys.load((self.project_id, str(self.api_key_id)))
        return ApiKeyType.of(key) if key else None

    @classmethod
    def of(cls, alert: AlertRecord) -> SecurityAlertType:
        return cls(
            project_id=alert.project_id,
            id=strawberry.ID(str(alert.id)),
            kind=alert.kind,
            api_key_id=strawberry.ID(alert.api_key_id),
            window_start=alert.window_start,
            window_end=alert.window_end,
            evidence=cast(JSON, alert.evidence),
            created_at=alert.created_at,
            acknowledged_at=alert.acknowledged_at,
        )


def usage_points(arguments: Mapping[str, Any]) -> int:
    """How many points `Project.usage` answers with, from its arguments as sent (the most any
    valid range holds when they cannot be read: the field refuses those anyway)."""
    try:
        start = parse_datetime(arguments.get("from"))
        end = parse_datetime(arguments.get("to"))
        granularity = Granularity(str(arguments.get("granularity")))
    except (GraphQLError, ValueError):
        return MAX_BUCKETS
    if start is None or end is None:
        return MAX_BUCKETS
    return min(bucket_count(start, end, granularity), MAX_BUCKETS)


async def project_usage(
    info: AppInfo,
    project_id: uuid.UUID,
    start: datetime,
    end: datetime,
    granularity: Granularity,
    api_key_id: str | None,
) -> UsageSeriesType:
    context = info.context
    try:
        async with taking_turns(info):
            series = await context.services.usage.series(
                context.principal,
                project_id,
                start=start,
                end=end,
                granularity=Granularity(granularity),
                api_key_id=api_key_id,
            )
    except DomainError as error:
        raise QueryError(error) from None
    return UsageSeriesType.of(series)


async def key_usage_24h(info: AppInfo, key: ApiKeyRecord) -> UsageSummaryType:
    activity = await info.context.key_activity.load((key.project_id, key.id))
    return UsageSummaryType(
        requests=activity.requests,
        errors=activity.errors,
        last_used_at=key.last_used_at,
        last_used_ip=key.last_used_ip,
    )


async def key_client_ips(
    info: AppInfo, key: ApiKeyRecord, first: int | None, after: str | None
) -> Connection[ClientIpType]:
    context = info.context
    addresses = context.services.usage.client_addresses(
        context.principal, key.project_id, key.id, page_request(first, after)
    )
    return await connection_of(info, addresses, ClientIpType.of)


async def security_alerts(
    info: AppInfo,
    project_id: uuid.UUID,
    first: int | None,
    after: str | None,
    include_acknowledged: bool,
    only_acknowledged: bool = False,
    api_key_id: str | None = None,
) -> Connection[SecurityAlertType]:
    context = info.context
    alerts = context.services.usage.alerts(
        context.principal,
        project_id,
        page_request(first, after),
        include_acknowledged=include_acknowledged,
        only_acknowledged=only_acknowledged,
        api_key_id=api_key_id,
    )
    return await connection_of(info, alerts, SecurityAlertType.of)


@strawberry.input(description="The alert to acknowledge.")
class AcknowledgeSecurityAlertInput:
    id: strawberry.ID = strawberry.field(description="The alert's id.")


@strawberry.type(description="The result of acknowledgeSecurityAlert.")
class AcknowledgeSecurityAlertPayload:
    security_alert: SecurityAlertType | None = strawberry.field(
        description="The alert, acknowledged; null on errors."
    )
    user_errors: list[UserError] = user_errors_field()


@strawberry.type
class UsageMutations:
    @strawberry.mutation(
        description="Mark an alert as seen (OWNER or ADMIN); it leaves the default alert list. "
        "Acknowledging it again changes nothing. Errors: NOT_FOUND (the alert), FORBIDDEN (a "
        "MEMBER, or a project API key).",
        permission_classes=[IsAuthenticated],
    )
    async def acknowledge_security_alert(
        self, info: AppInfo, input: Annotated[AcknowledgeSecurityAlertInput, MutationInput]
    ) -> AcknowledgeSecurityAlertPayload:
        context = info.context

        async def acknowledge() -> AlertRecord:
            return await context.services.usage.acknowledge(context.principal, parse_id(input.id))

        alert, errors = await attempt(acknowledge)
        return AcknowledgeSecurityAlertPayload(
            security_alert=SecurityAlertType.of(alert) if alert else None, user_errors=errors
        )
