"""GraphQL face of usage monitoring: series, per-key summaries, client addresses, alerts."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, cast

import strawberry
from strawberry.scalars import JSON

from app.errors import DomainError, NotFound
from app.graphql.context import AppInfo
from app.graphql.errors import QueryError, UserError, attempt
from app.graphql.pagination import Connection, connection, page_request
from app.graphql.permissions import IsAuthenticated
from app.projects.service import parse_id
from app.usage.ingest import AlertKind
from app.usage.service import AlertRecord, ClientAddress, Granularity, UsagePoint, UsageSeries

if TYPE_CHECKING:
    from app.api_keys.service import ApiKeyRecord
    from app.projects.service import ProjectAccess

UsageGranularity = strawberry.enum(Granularity, name="UsageGranularity")
SecurityAlertKind = strawberry.enum(AlertKind, name="SecurityAlertKind")


@strawberry.type(name="UsagePoint")
class UsagePointType:
    start: datetime
    requests: int
    errors: int = strawberry.field(description="Client, server and upstream errors.")
    input_tokens: int
    output_tokens: int

    @classmethod
    def of(cls, point: UsagePoint) -> UsagePointType:
        return cls(
            start=point.start,
            requests=point.requests,
            errors=point.errors,
            input_tokens=point.input_tokens,
            output_tokens=point.output_tokens,
        )


@strawberry.type(name="UsageSeries")
class UsageSeriesType:
    points: list[UsagePointType] = strawberry.field(description="Every bucket, empty ones too.")
    totals: UsagePointType

    @classmethod
    def of(cls, series: UsageSeries) -> UsageSeriesType:
        return cls(
            points=[UsagePointType.of(p) for p in series.points],
            totals=UsagePointType.of(series.totals),
        )


@strawberry.type(name="UsageSummary")
class UsageSummaryType:
    requests: int
    errors: int
    last_used_at: datetime | None
    last_used_ip: str | None


@strawberry.type(name="ClientIp")
class ClientIpType:
    ip: str
    first_seen_at: datetime
    last_seen_at: datetime
    requests: int

    @classmethod
    def of(cls, address: ClientAddress) -> ClientIpType:
        return cls(
            ip=address.ip,
            first_seen_at=address.first_seen_at,
            last_seen_at=address.last_seen_at,
            requests=address.requests,
        )


@strawberry.type(name="SecurityAlert")
class SecurityAlertType:
    id: strawberry.ID
    kind: SecurityAlertKind  # type: ignore[valid-type]
    api_key_id: strawberry.ID
    window_start: datetime
    window_end: datetime
    evidence: JSON = strawberry.field(description="Counts, addresses and thresholds behind it.")
    created_at: datetime
    acknowledged_at: datetime | None

    @classmethod
    def of(cls, alert: AlertRecord) -> SecurityAlertType:
        return cls(
            id=strawberry.ID(str(alert.id)),
            kind=alert.kind,
            api_key_id=strawberry.ID(alert.api_key_id),
            window_start=alert.window_start,
            window_end=alert.window_end,
            evidence=cast(JSON, alert.evidence),
            created_at=alert.created_at,
            acknowledged_at=alert.acknowledged_at,
        )


async def project_usage(
    info: AppInfo,
    access: ProjectAccess,
    start: datetime,
    end: datetime,
    granularity: Granularity,
    api_key_id: str | None,
) -> UsageSeriesType:
    services = info.context.services
    try:
        if api_key_id is not None and await services.api_keys.key(access, api_key_id) is None:
            raise NotFound("API key not found.", field=("apiKeyId",))
        series = await services.usage_reports.series(
            access,
            start=start,
            end=end,
            granularity=Granularity(granularity),
            api_key_id=api_key_id,
        )
    except DomainError as error:
        raise QueryError(error) from None
    return UsageSeriesType.of(series)


async def key_usage_24h(info: AppInfo, key: ApiKeyRecord) -> UsageSummaryType:
    activity = await info.context.key_activity.load(key.id)
    return UsageSummaryType(
        requests=activity.requests,
        errors=activity.errors,
        last_used_at=key.last_used_at,
        last_used_ip=key.last_used_ip,
    )


async def key_client_ips(
    info: AppInfo, key: ApiKeyRecord, first: int | None, after: str | None
) -> Connection[ClientIpType]:
    page = await info.context.services.usage_reports.client_addresses(
        key.id, page_request(first, after)
    )
    return connection(page, ClientIpType.of)


async def security_alerts(
    info: AppInfo,
    access: ProjectAccess,
    first: int | None,
    after: str | None,
    include_acknowledged: bool,
) -> Connection[SecurityAlertType]:
    page = await info.context.services.usage_reports.alerts(
        access, page_request(first, after), include_acknowledged=include_acknowledged
    )
    return connection(page, SecurityAlertType.of)


@strawberry.input
class AcknowledgeSecurityAlertInput:
    id: strawberry.ID


@strawberry.type
class AcknowledgeSecurityAlertPayload:
    security_alert: SecurityAlertType | None
    user_errors: list[UserError]


@strawberry.type
class UsageMutations:
    @strawberry.mutation(
        description="Mark an alert as seen (OWNER or ADMIN); it leaves the default alert list.",
        permission_classes=[IsAuthenticated],
    )
    async def acknowledge_security_alert(
        self, info: AppInfo, input: AcknowledgeSecurityAlertInput
    ) -> AcknowledgeSecurityAlertPayload:
        context = info.context

        async def acknowledge() -> AlertRecord:
            alert_id = parse_id(input.id)
            reports = context.services.usage_reports
            project_id = await reports.alert_project(alert_id)
            try:
                access = await context.services.projects.access(context.principal, project_id)
            except DomainError:
                raise NotFound("Security alert not found.", field=("id",)) from None
            return await reports.acknowledge(access, alert_id)

        alert, errors = await attempt(acknowledge)
        return AcknowledgeSecurityAlertPayload(
            security_alert=SecurityAlertType.of(alert) if alert else None, user_errors=errors
        )
