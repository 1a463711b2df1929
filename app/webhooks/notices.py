"""Events nobody's request causes: a key entering its expiry warning, a key due for rotation,
a budget past 80 % or 100 % of its period.

One process at a time looks (the `key-notices` lease), once a minute; each notice is stored in
`notices` with a unique (subject, kind, threshold) in the transaction that queues its webhook
message, so a notice goes out once per key and threshold even if two processes looked at once.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app import db, leases
from app.api_keys.policy import (
    BudgetPeriod,
    Budgets,
    budgets_from_json,
    period_bounds,
    period_label,
    policy_from_json,
)
from app.clock import Clock
from app.money import usd
from app.settings import MonitoringConfig
from app.usage.service import PeriodUsage, usage_since
from app.webhooks.events import Outbox, WebhookEvent
from app.webhooks.tables import WebhookMessage

BUDGET_THRESHOLDS = (80, 100)
# Webhook messages (and their deliveries) are kept this long for the delivery log.
MESSAGE_RETENTION = timedelta(days=30)

_INSERT_NOTICE = """
INSERT INTO notices (id, subject, kind, threshold, created_at) VALUES ({}, {}, {}, {}, {})
ON CONFLICT (subject, kind, threshold) DO NOTHING
RETURNING id
"""

# Keys due a notice they have not had: the NOT EXISTS keeps the notified ones out of the read.
_EXPIRING = """
SELECT k.id, k.project, k.note, k.start, k.expires_at FROM api_keys k
WHERE k.deleted_at IS NULL AND k.expires_at > {} AND k.expires_at <= {}
  AND NOT EXISTS (SELECT 1 FROM notices n
                  WHERE n.subject = {} || k.id AND n.kind = {} AND n.threshold = {})
LIMIT 500
"""
_ROTATION_DUE = """
SELECT k.id, k.project, k.note, k.start, k.expires_at, k.created_at FROM api_keys k
WHERE k.deleted_at IS NULL AND k.replaced_by IS NULL AND k.created_at <= {}
  AND (k.expires_at IS NULL OR k.expires_at > {})
  AND NOT EXISTS (SELECT 1 FROM notices n
                  WHERE n.subject = {} || k.id AND n.kind = {} AND n.threshold = {})
LIMIT 500
"""
# The JSON matched as text first: most keys and projects have no budget.
_BUDGETED_KEYS = {
    "sqlite": "SELECT id, project, policy FROM api_keys "
    "WHERE deleted_at IS NULL AND policy LIKE '%budget%'",
    "postgres": "SELECT id, project, policy FROM api_keys "
    "WHERE deleted_at IS NULL AND policy::text LIKE '%budget%'",
}
_BUDGETED_PROJECTS = {
    "sqlite": "SELECT id, budgets FROM projects WHERE budgets LIKE '%budget%'",
    "postgres": "SELECT id, budgets FROM projects WHERE budgets::text LIKE '%budget%'",
}


@dataclass(frozen=True)
class _Budgeted:
    """A key or a project with budgets."""

    kind: str  # "key" or "project"
    id: str
    project_id: uuid.UUID
    budgets: Budgets


UsageSince = Callable[[str, str, datetime], Awaitable[PeriodUsage]]


class Notices:
    LEASE = "key-notices"
    EVERY = 60.0

    def __init__(
        self,
        clock: Clock,
        monitoring: MonitoringConfig,
        outbox: Outbox,
        used: UsageSince = usage_since,
    ) -> None:
        self._clock = clock
        self._monitoring = monitoring
        self._outbox = outbox
        self._used = used
        self._holder = leases.new_holder()
        self._last_run = float("-inf")

    async def __call__(self) -> None:
        """The dispatcher's chore: at most once a minute, in one process at a time."""
        if time.monotonic() - self._last_run < self.EVERY:
            return
        self._last_run = time.monotonic()
        now = self._clock.now()
        if await leases.take(self.LEASE, self._holder, now=now, duration=timedelta(minutes=5)):
            await self.run(now)

    async def run(self, now: datetime) -> int:
        """Send what is due at `now`; how many notices went out."""
        sent = await self._expiring(now)
        sent += await self._rotation_due(now)
        sent += await self._budgets(now)
        await _forget_old_messages(now)
        return sent

    async def _expiring(self, now: datetime) -> int:
        warning = self._monitoring.expires_soon
        threshold = f"{warning.days}d"
        kind = WebhookEvent.KEY_EXPIRES_SOON
        async with db.transaction():
            keys = await db.fetch(_EXPIRING, now, now + warning, "api_key:", kind.value, threshold)
        sent = 0
        for key in keys:
            sent += await self._notify(
                f"api_key:{key['id']}",
                kind,
                threshold,
                db.uuid_value(key["project"]),
                _key_data(key, expiresInDays=warning.days),
                now,
            )
        return sent

    async def _rotation_due(self, now: datetime) -> int:
        period = self._monitoring.rotation_period
        threshold = f"{period.days}d"
        kind = WebhookEvent.KEY_ROTATION_DUE
        async with db.transaction():
            keys = await db.fetch(
                _ROTATION_DUE, now - period, now, "api_key:", kind.value, threshold
            )
        sent = 0
        for key in keys:
            created = db.time_value(key["created_at"])
            sent += await self._notify(
                f"api_key:{key['id']}",
                kind,
                threshold,
                db.uuid_value(key["project"]),
                _key_data(key, createdAt=created.isoformat(), rotationPeriodDays=period.days),
                now,
            )
        return sent

    async def _budgets(self, now: datetime) -> int:
        sent = 0
        for owner in await _budgeted():
            for budget, limit, period in _limits(owner.budgets):
                used = await self._used(owner.kind, owner.id, period_bounds(period, now)[0])
                amount = used.tokens if budget == "tokens" else used.cost_micros
                sent += await self._budget_thresholds(owner, budget, limit, period, amount, now)
        return sent

    async def _budget_thresholds(
        self,
        owner: _Budgeted,
        budget: str,
        limit: int,
        period: BudgetPeriod,
        amount: int,
        now: datetime,
    ) -> int:
        sent = 0
        start, end = period_bounds(period, now)
        for percent in BUDGET_THRESHOLDS:
            if limit <= 0 or amount * 100 < limit * percent:
                continue
            data: dict[str, Any] = {
                "owner": owner.kind,
                "budget": budget,
                "percent": percent,
                "used": _shown(budget, amount),
                "limit": _shown(budget, limit),
                "period": period.value,
                "periodStart": start.isoformat(),
                "resetsAt": end.isoformat(),
            }
            if owner.kind == "key":
                data["apiKeyId"] = owner.id
            sent += await self._notify(
                f"{owner.kind}:{owner.id}",
                WebhookEvent.BUDGET_THRESHOLD_REACHED,
                f"{budget}:{period_label(period, now)}:{percent}",
                owner.project_id,
                data,
                now,
            )
        return sent

    async def _notify(
        self,
        subject: str,
        kind: WebhookEvent,
        threshold: str,
        project_id: uuid.UUID,
        data: dict[str, Any],
        now: datetime,
    ) -> int:
        async with db.transaction():
            new = await db.fetch(_INSERT_NOTICE, uuid.uuid4(), subject, kind.value, threshold, now)
            if new:
                await self._outbox.publish(project_id, kind, data, now=now)
        return 1 if new else 0


def _shown(budget: str, amount: int) -> int | str:
    """Tokens as a number; spend as a USD decimal string, as the API shows it."""
    return usd(amount) if budget == "spendUsd" else amount


def _key_data(key: dict[str, Any], **extra: Any) -> dict[str, Any]:
    expires_at = key["expires_at"]
    return {
        "apiKeyId": key["id"],
        "note": key["note"],
        "start": key["start"],
        "expiresAt": db.time_value(expires_at).isoformat() if expires_at else None,
        **extra,
    }


def _limits(budgets: Budgets) -> list[tuple[str, int, BudgetPeriod]]:
    limits = []
    if budgets.tokens is not None:
        limits.append(("tokens", budgets.tokens.limit, budgets.tokens.period))
    if budgets.spend is not None:
        limits.append(("spendUsd", budgets.spend.limit_micros, budgets.spend.period))
    return limits


async def _budgeted() -> list[_Budgeted]:
    """Keys and projects with a budget."""
    engine = "sqlite" if db.is_sqlite() else "postgres"
    async with db.transaction():
        keys = await db.fetch(_BUDGETED_KEYS[engine])
        projects = await db.fetch(_BUDGETED_PROJECTS[engine])
    owners = [
        _Budgeted("key", row["id"], db.uuid_value(row["project"]), _key_budgets(row["policy"]))
        for row in keys
    ]
    owners += [
        _Budgeted(
            "project",
            str(db.uuid_value(row["id"])),
            db.uuid_value(row["id"]),
            budgets_from_json(_text(row["budgets"])),
        )
        for row in projects
    ]
    return [owner for owner in owners if owner.budgets.any]


def _key_budgets(policy: Any) -> Budgets:
    return policy_from_json(_text(policy)).budgets


def _text(value: Any) -> str:
    """A JSON column as text: SQLite hands back text, PostgreSQL the decoded value."""
    return value if isinstance(value, str) else json.dumps(value)


async def _forget_old_messages(now: datetime) -> None:
    """Messages past retention go, with their deliveries (a cascade), a chunk at a time."""
    cutoff = now - MESSAGE_RETENTION
    async with db.transaction():
        old = (
            WebhookMessage.select(WebhookMessage.id)
            .where(WebhookMessage.created_at < cutoff)
            .limit(1000)
        )
        await WebhookMessage.delete().where(WebhookMessage.id.is_in(old))
