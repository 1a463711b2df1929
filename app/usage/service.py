"""Reading usage: series for charts, per-key summaries, client addresses and security alerts.

Every entry point takes the caller and asks `AccessControl` first, so a key or alert of another
project is simply not found.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from app import db
from app.api_keys.policy import BudgetPeriod, Budgets, period_bounds
from app.api_keys.service import ApiKeyService
from app.audit.service import AuditService
from app.clock import Clock
from app.errors import InvalidInput, NotFound
from app.pagination import Page, PageRequest, SortOrder, keyset_page
from app.projects.access import AccessControl, Permission
from app.security.principal import Principal
from app.settings import MonitoringConfig
from app.usage.alerts import AlertKind
from app.usage.batch import hour_of
from app.usage.tables import KeyClientIp, SecurityAlert, UsageHourly

MAX_RANGE = timedelta(days=400)
MAX_HOURLY_RANGE = timedelta(days=31)
# The most points a series the range checks allow holds: 31 days of hours or 400 days, and one
# more for a range that starts inside its first bucket.
MAX_BUCKETS = max(MAX_HOURLY_RANGE // timedelta(hours=1), MAX_RANGE // timedelta(days=1)) + 1


class Granularity(StrEnum):
    HOUR = "HOUR"
    DAY = "DAY"


@dataclass(frozen=True)
class UsagePoint:
    start: datetime
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_micros: int = 0
    unpriced_tokens: int = 0

    def plus(self, other: UsagePoint) -> UsagePoint:
        return UsagePoint(
            start=self.start,
            requests=self.requests + other.requests,
            errors=self.errors + other.errors,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cost_micros=self.cost_micros + other.cost_micros,
            unpriced_tokens=self.unpriced_tokens + other.unpriced_tokens,
        )


@dataclass(frozen=True)
class UsageSeries:
    points: list[UsagePoint]
    totals: UsagePoint


@dataclass(frozen=True)
class KeyActivity:
    requests: int
    errors: int


NO_ACTIVITY = KeyActivity(requests=0, errors=0)


@dataclass(frozen=True)
class ClientAddress:
    ip: str
    first_seen_at: datetime
    last_seen_at: datetime
    requests: int


@dataclass(frozen=True)
class AlertRecord:
    id: uuid.UUID
    project_id: uuid.UUID
    api_key_id: str
    kind: AlertKind
    window_start: datetime
    window_end: datetime
    evidence: dict[str, Any]
    created_at: datetime
    acknowledged_at: datetime | None


class UsageService:
    def __init__(
        self,
        clock: Clock,
        config: MonitoringConfig,
        *,
        access: AccessControl,
        api_keys: ApiKeyService,
        audit: AuditService,
    ) -> None:
        self._clock = clock
        self.config = config
        self._access = access
        self._api_keys = api_keys
        self._audit = audit

    async def series(
        self,
        principal: Principal,
        project_id: uuid.UUID,
        *,
        start: datetime,
        end: datetime,
        granularity: Granularity,
        api_key_id: str | None,
    ) -> UsageSeries:
        """Points from `start` (inclusive) to `end` (exclusive), empty buckets included."""
        await self._access.access(principal, project_id)
        _check_range(start, end, granularity)
        if api_key_id is not None and not await self._api_keys.key(
            principal, project_id, api_key_id
        ):
            raise NotFound("API key not found.", field=("apiKeyId",))
        rows = await _hourly_totals(project_id, hour_of(start), end, api_key_id)
        buckets = {bucket: UsagePoint(start=bucket) for bucket in _buckets(start, end, granularity)}
        for row in rows:
            hour = db.time_value(row["hour_start"])
            bucket = _bucket_of(hour, granularity)
            if bucket in buckets:
                buckets[bucket] = buckets[bucket].plus(
                    UsagePoint(
                        start=bucket,
                        requests=int(row["requests"]),
                        errors=int(row["errors"]),
                        input_tokens=int(row["input_tokens"]),
                        output_tokens=int(row["output_tokens"]),
                        cost_micros=int(row["cost_micros"]),
                        unpriced_tokens=int(row["unpriced_tokens"]),
                    )
                )
        points = list(buckets.values())
        totals = UsagePoint(start=_bucket_of(hour_of(start), granularity))
        for point in points:
            totals = totals.plus(point)
        return UsageSeries(points=points, totals=totals)

    async def budget_usage(
        self, principal: Principal, project_id: uuid.UUID, budgets: Budgets, key_id: str | None
    ) -> BudgetUsage:
        """Where `budgets` (a key's, or with `key_id` None the project's) stand this period, as
        recorded (the last few seconds of traffic may not be written yet)."""
        await self._access.access(principal, project_id)
        owner = ("key", key_id) if key_id is not None else ("project", str(project_id))
        now = self._clock.now()

        async def standing(period: BudgetPeriod, limit: int, spend: bool) -> BudgetStanding:
            start, end = period_bounds(period, now)
            used = await usage_since(*owner, start)
            return BudgetStanding(
                period=period,
                limit=limit,
                used=used.cost_micros if spend else used.tokens,
                resets_at=end,
                unpriced_tokens=used.unpriced_tokens if spend else 0,
            )

        return BudgetUsage(
            tokens=await standing(budgets.tokens.period, budgets.tokens.limit, False)
            if budgets.tokens
            else None,
            spend=await standing(budgets.spend.period, budgets.spend.limit_micros, True)
            if budgets.spend
            else None,
        )

    async def last_24_hours(
        self, principal: Principal, keys: Sequence[tuple[uuid.UUID, str]]
    ) -> dict[str, KeyActivity]:
        """Requests and errors of each (project, key) in the last 24 hours, in one query for
        all of them (a page of keys asks for a hundred at once). Keys of projects that are not
        the caller's are left out."""
        visible = {
            project_id
            for project_id in {project_id for project_id, _ in keys}
            if await self._access.find(principal, project_id) is not None
        }
        key_ids = [key_id for project_id, key_id in keys if project_id in visible]
        if not key_ids:
            return {}
        since = hour_of(self._clock.now()) - timedelta(hours=23)
        # Only placeholders are formatted in; the key ids travel as parameters.
        placeholders = ", ".join(["{}"] * len(key_ids))
        rows = await UsageHourly.raw(_LAST_24_HOURS.format(keys=placeholders), *key_ids, since)
        found = {
            row["api_key_id"]: KeyActivity(requests=int(row["requests"]), errors=int(row["errors"]))
            for row in rows
        }
        return {key_id: found.get(key_id, NO_ACTIVITY) for key_id in key_ids}

    async def client_addresses(
        self, principal: Principal, project_id: uuid.UUID, key_id: str, page: PageRequest
    ) -> Page[ClientAddress]:
        """Addresses the key was used from, most recently seen first."""
        await self._access.authorize(
            principal, project_id, Permission.READ_CLIENT_IPS, action="read client addresses"
        )
        of_key = (KeyClientIp.api_key_id == key_id) & (KeyClientIp.project_id == project_id)
        return await keyset_page(
            KeyClientIp.select().where(of_key),
            KeyClientIp.count().where(of_key),
            page,
            SortOrder(KeyClientIp.last_seen_at),
            KeyClientIp.id,
            lambda row: ClientAddress(
                ip=row["ip"],
                first_seen_at=row["first_seen_at"],
                last_seen_at=row["last_seen_at"],
                requests=row["requests"],
            ),
        )

    async def alerts(
        self,
        principal: Principal,
        project_id: uuid.UUID,
        page: PageRequest,
        *,
        include_acknowledged: bool,
        only_acknowledged: bool = False,
        api_key_id: str | None = None,
    ) -> Page[AlertRecord]:
        """The project's alerts, newest first: open ones, or with `include_acknowledged` all,
        or with `only_acknowledged` the acknowledged ones; `api_key_id` keeps one key's."""
        await self._access.authorize(
            principal, project_id, Permission.READ_SECURITY_ALERTS, action="read security alerts"
        )
        where: Any = SecurityAlert.project_id == project_id
        if only_acknowledged:
            where = where & SecurityAlert.acknowledged_at.is_not_null()
        elif not include_acknowledged:
            where = where & SecurityAlert.acknowledged_at.is_null()
        if api_key_id is not None:
            where = where & (SecurityAlert.api_key_id == api_key_id)
        return await keyset_page(
            SecurityAlert.select().where(where),
            SecurityAlert.count().where(where),
            page,
            SortOrder(SecurityAlert.created_at),
            SecurityAlert.id,
            _alert,
        )

    async def acknowledge(self, principal: Principal, alert_id: uuid.UUID) -> AlertRecord:
        row = (
            await SecurityAlert.select(SecurityAlert.project_id)
            .where(SecurityAlert.id == alert_id)
            .first()
        )
        if row is None:
            raise _alert_not_found()
        access = await self._access.authorize(
            principal,
            row["project_id"],
            Permission.ACKNOWLEDGE_SECURITY_ALERTS,
            action="acknowledge security alerts",
            missing=_alert_not_found(),
        )
        async with db.transaction():
            acknowledged = await (
                SecurityAlert.update(
                    {
                        SecurityAlert.acknowledged_at: self._clock.now(),
                        SecurityAlert.acknowledged_by: access.principal.user_id,
                    }
                )
                .where(
                    (SecurityAlert.id == alert_id)
                    & (SecurityAlert.project_id == access.project.id)
                    & SecurityAlert.acknowledged_at.is_null()
                )
                .returning(SecurityAlert.kind, SecurityAlert.api_key_id)
            )
            if acknowledged:  # not when it was acknowledged before
                await self._audit.record(
                    principal,
                    action="security_alert.acknowledge",
                    target_type="security_alert",
                    target_id=str(alert_id),
                    project_id=access.project.id,
                    details={
                        "kind": acknowledged[0]["kind"],
                        "apiKeyId": acknowledged[0]["api_key_id"],
                    },
                )
            row = (
                await SecurityAlert.select()
                .where(
                    (SecurityAlert.id == alert_id) & (SecurityAlert.project_id == access.project.id)
                )
                .first()
            )
        if row is None:
            raise _alert_not_found()
        return _alert(row)

    def rotation_due(self, created_at: datetime) -> bool:
        return self._clock.now() - created_at >= self.config.rotation_period

    def expires_soon(self, expires_at: datetime | None) -> bool:
        if expires_at is None:
            return False
        now = self._clock.now()
        return now < expires_at <= now + self.config.expires_soon


@dataclass(frozen=True)
class BudgetStanding:
    """One budget in its current period: the limit, what is used, when it starts again."""

    period: BudgetPeriod
    limit: int  # tokens, or micro-USD
    used: int
    resets_at: datetime
    # Spend budgets: tokens of models without a price, which the spend leaves out.
    unpriced_tokens: int = 0


@dataclass(frozen=True)
class BudgetUsage:
    tokens: BudgetStanding | None
    spend: BudgetStanding | None


@dataclass(frozen=True)
class PeriodUsage:
    """Tokens and spend recorded for a key or a project since the start of a budget period."""

    tokens: int
    cost_micros: int
    unpriced_tokens: int


async def usage_since(owner_kind: str, owner_id: str, start: datetime) -> PeriodUsage:
    """What a key (`owner_kind` "key") or a project ("project") used from `start`, as recorded:
    what seeds a budget's counter, and what `budgetUsage` reads. Whole hours: budget periods
    start on the hour."""
    if owner_kind == "key":
        rows = await UsageHourly.raw(_KEY_USAGE_SINCE, owner_id, start)
    else:
        rows = await UsageHourly.raw(_PROJECT_USAGE_SINCE, uuid.UUID(owner_id), start)
    row = rows[0] if rows else {}
    return PeriodUsage(
        tokens=int(row.get("tokens") or 0),
        cost_micros=int(row.get("cost_micros") or 0),
        unpriced_tokens=int(row.get("unpriced_tokens") or 0),
    )


_USAGE_SUMS = (
    "SELECT SUM(input_tokens + output_tokens) AS tokens, SUM(cost_micros) AS cost_micros, "
    "SUM(unpriced_tokens) AS unpriced_tokens FROM {table} WHERE {owner} = {{}} "
    "AND hour_start >= {{}}"
)
_KEY_USAGE_SINCE = _USAGE_SUMS.format(table="usage_hourly", owner="api_key_id")
_PROJECT_USAGE_SINCE = _USAGE_SUMS.format(table="usage_project_hourly", owner="project_id")


def _check_range(start: datetime, end: datetime, granularity: Granularity) -> None:
    if start >= end:
        raise InvalidInput.single("from", "`from` must be before `to`.")
    if end - start > MAX_RANGE:
        raise InvalidInput.single("to", "Ask for at most 400 days at a time.")
    if granularity is Granularity.HOUR and end - start > MAX_HOURLY_RANGE:
        raise InvalidInput.single(
            "granularity", "HOUR covers at most 31 days; use DAY for longer ranges."
        )


_LAST_24_HOURS = (
    "SELECT api_key_id, SUM(requests) AS requests, "
    "SUM(client_errors + server_errors + upstream_errors) AS errors "
    "FROM usage_hourly WHERE api_key_id IN ({keys}) AND hour_start >= {{}} "
    "GROUP BY api_key_id"
)


async def _hourly_totals(
    project_id: uuid.UUID, start: datetime, end: datetime, api_key_id: str | None
) -> list[dict[str, Any]]:
    """One row per hour: the project's own rows, or one key's."""
    if api_key_id is None:
        rows: list[dict[str, Any]] = await UsageHourly.raw(_PROJECT_HOURS, project_id, start, end)
    else:
        # By key and time only, so that the (key, hour) index serves it whatever the planner
        # knows; the project is checked on the rows instead.
        rows = [
            row
            for row in await UsageHourly.raw(_KEY_HOURS, api_key_id, start, end)
            if db.uuid_value(row["project_id"]) == project_id
        ]
    return rows


_PROJECT_HOURS = (
    "SELECT hour_start, requests, client_errors + server_errors + upstream_errors AS errors, "
    "input_tokens, output_tokens, cost_micros, unpriced_tokens FROM usage_project_hourly "
    "WHERE project_id = {} AND hour_start >= {} AND hour_start < {}"
)
_KEY_HOURS = (
    "SELECT project_id, hour_start, requests, "
    "client_errors + server_errors + upstream_errors AS errors, input_tokens, output_tokens, "
    "cost_micros, unpriced_tokens FROM usage_hourly "
    "WHERE api_key_id = {} AND hour_start >= {} AND hour_start < {}"
)


def bucket_count(start: datetime, end: datetime, granularity: Granularity) -> int:
    """How many points a series from `start` to `end` holds (0 for an empty or reversed range)."""
    if end <= start:
        return 0
    step = timedelta(hours=1) if granularity is Granularity.HOUR else timedelta(days=1)
    first = _bucket_of(hour_of(start), granularity)
    return -(-(end - first) // step)  # ceiling


def _buckets(start: datetime, end: datetime, granularity: Granularity) -> list[datetime]:
    step = timedelta(hours=1) if granularity is Granularity.HOUR else timedelta(days=1)
    bucket = _bucket_of(hour_of(start), granularity)
    buckets = []
    while bucket < end:
        buckets.append(bucket)
        bucket += step
    return buckets


def _bucket_of(hour: datetime, granularity: Granularity) -> datetime:
    return hour if granularity is Granularity.HOUR else hour.replace(hour=0)


def _alert_not_found() -> NotFound:
    return NotFound("Security alert not found.", field=("id",))


def _alert(row: dict[str, Any]) -> AlertRecord:
    evidence = db.json_value(row["evidence"])
    return AlertRecord(
        id=row["id"],
        project_id=row["project_id"],
        api_key_id=row["api_key_id"],
        kind=AlertKind(row["kind"]),
        window_start=row["window_start"],
        window_end=row["window_end"],
        evidence=evidence,
        created_at=row["created_at"],
        acknowledged_at=row["acknowledged_at"],
    )
