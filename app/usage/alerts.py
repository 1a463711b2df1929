"""Security alerts raised from what a batch of usage adds up to, in the batch's transaction.

Alerts are raised once per condition: a unique (key, kind, condition) index makes a repeated
detection a no-op, whichever process detects it.

    UNFAMILIAR_IP       a key used from an address it has not used in the lookback (30 days),
                        once the key has been in use for longer than its first day
    REQUEST_SPIKE       an hour's requests above factor x the trailing median of hourly counts
                        (168 h, hours without traffic as 0) and above an absolute floor
    ERROR_SPIKE         the same on errors (client, server and upstream), with its own floor
    REVOKED_KEY_IN_USE  a deleted or expired key presented again: once per key and day
    KEY_LEAKED          a key reported found in public (app/leaks): once per key and place
"""

from __future__ import annotations

import json
import statistics
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from piccolo.columns.combination import WhereRaw

from app import db
from app.settings import MonitoringConfig
from app.usage.batch import AddressTotals, HourTotals
from app.usage.recorder import UsageRecord
from app.usage.tables import KeyClientIp, UsageHourly
from app.webhooks.events import Outbox, WebhookEvent


class AlertKind(StrEnum):
    UNFAMILIAR_IP = "UNFAMILIAR_IP"
    REQUEST_SPIKE = "REQUEST_SPIKE"
    ERROR_SPIKE = "ERROR_SPIKE"
    REVOKED_KEY_IN_USE = "REVOKED_KEY_IN_USE"
    KEY_LEAKED = "KEY_LEAKED"


_INSERT_ALERT = """
INSERT INTO security_alerts (id, project_id, api_key_id, kind, condition, window_start,
    window_end, evidence, created_at)
VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})
ON CONFLICT (api_key_id, kind, condition) DO NOTHING
RETURNING id
"""


# (key id, hour, "requests" | "errors")
_SpikeCondition = tuple[str, datetime, str]


class SecurityMonitor:
    """Checks a batch's totals against the alert thresholds; lives as long as its process."""

    def __init__(self, config: MonitoringConfig, outbox: Outbox | None = None) -> None:
        self._config = config
        self._outbox = outbox or Outbox()
        # Per (key, hour, measure): the spike threshold, fixed once the hour has begun (it rests
        # on the hours before), and whether this process already raised the alert. A busy key
        # then costs one read per batch, not a read of its previous week every batch.
        self._thresholds: dict[_SpikeCondition, tuple[float, float]] = {}
        self._raised: set[_SpikeCondition] = set()
        # Raised in the transaction under way: known as raised only once it commits.
        self._raising: set[_SpikeCondition] = set()

    def begin(self) -> None:
        """A batch's transaction starts."""
        self._raising = set()

    def committed(self) -> None:
        """It committed: what it raised is raised."""
        self._raised |= self._raising

    async def check_spikes(self, hours: dict[tuple[str, datetime], HourTotals]) -> None:
        """Hours of this batch now past a floor get the (costlier) trailing-median check."""
        if not hours:
            return
        busy = await UsageHourly.select(
            UsageHourly.api_key_id,
            UsageHourly.hour_start,
            UsageHourly.requests,
            UsageHourly.client_errors,
            UsageHourly.server_errors,
            UsageHourly.upstream_errors,
        ).where(
            UsageHourly.api_key_id.is_in(list({key_id for key_id, _ in hours}))
            & (UsageHourly.hour_start >= min(hour for _, hour in hours))
            & (UsageHourly.hour_start <= max(hour for _, hour in hours))
            & (
                (UsageHourly.requests > self._config.request_spike_floor)
                | WhereRaw(
                    "client_errors + server_errors + upstream_errors > {}",
                    self._config.error_spike_floor,
                )
            )
        )
        for row in busy:
            key = (row["api_key_id"], db.time_value(row["hour_start"]))
            totals = hours.get(key)
            if totals is None:
                continue  # a busy hour this batch did not touch
            errors = row["client_errors"] + row["server_errors"] + row["upstream_errors"]
            if row["requests"] > self._config.request_spike_floor:
                await self._check_spike(
                    totals.project_id, key[0], key[1], "requests", row["requests"]
                )
            if totals.errors and errors > self._config.error_spike_floor:
                await self._check_spike(totals.project_id, key[0], key[1], "errors", errors)

    async def _check_spike(
        self, project_id: uuid.UUID, key_id: str, hour: datetime, measure: str, count: int
    ) -> None:
        condition = (key_id, hour, measure)
        if condition in self._raised:
            return
        known = self._thresholds.get(condition)
        if known is None:
            self._forget_conditions_before(hour - timedelta(hours=2))
            median = await self._trailing_median(key_id, hour, measure)
            floor = (
                self._config.request_spike_floor
                if measure == "requests"
                else self._config.error_spike_floor
            )
            known = self._thresholds[condition] = (
                median,
                max(floor, self._config.spike_factor * median),
            )
        median, threshold = known
        if count <= threshold:
            return
        self._raising.add(condition)
        kind = AlertKind.REQUEST_SPIKE if measure == "requests" else AlertKind.ERROR_SPIKE
        await raise_alert(
            self._outbox,
            project_id,
            key_id,
            kind,
            condition=f"hour:{hour.isoformat()}",
            window=(hour, hour + timedelta(hours=1)),
            evidence={measure: count, "trailingMedian": median, "threshold": threshold},
            now=hour,
        )

    async def _trailing_median(self, key_id: str, hour: datetime, measure: str) -> float:
        """The median hourly count over the spike window before `hour`, idle hours as 0."""
        window = self._config.spike_window_hours
        rows = await UsageHourly.select(
            UsageHourly.requests,
            UsageHourly.client_errors,
            UsageHourly.server_errors,
            UsageHourly.upstream_errors,
        ).where(
            (UsageHourly.api_key_id == key_id)
            & (UsageHourly.hour_start >= hour - timedelta(hours=window))
            & (UsageHourly.hour_start < hour)
        )
        values = [
            row["requests"]
            if measure == "requests"
            else row["client_errors"] + row["server_errors"] + row["upstream_errors"]
            for row in rows
        ]
        return float(statistics.median(values + [0] * (window - len(values))))

    def _forget_conditions_before(self, oldest: datetime) -> None:
        """Hours long past are not checked again: what is kept about them can go."""
        self._thresholds = {c: v for c, v in self._thresholds.items() if c[1] >= oldest}
        self._raised = {c for c in self._raised if c[1] >= oldest}

    async def check_addresses(self, addresses: dict[tuple[str, str], AddressTotals]) -> None:
        """UNFAMILIAR_IP for the addresses of this batch a settled key had not used lately."""
        if not addresses:
            return
        known = await _known_addresses({key_id for key_id, _ in addresses})
        # In time order, each address joining what is known: a batch spanning a key's first day
        # judges its later addresses as separate batches would.
        for (key_id, ip), address in sorted(addresses.items(), key=lambda item: item[1].first):
            seen = known[key_id]
            await self._check_familiarity(key_id, ip, address, seen)
            previous = seen.get(ip)
            seen[ip] = (previous[0] if previous else address.first, address.last)

    async def _check_familiarity(
        self,
        key_id: str,
        ip: str,
        address: AddressTotals,
        known: dict[str, tuple[datetime, datetime]],
    ) -> None:
        """UNFAMILIAR_IP when a settled key shows up from an address it has not used lately."""
        first_use = min((first for first, _ in known.values()), default=None)
        previous = known.get(ip)
        lookback_start = address.first - self._config.unfamiliar_ip_lookback
        unfamiliar = previous is None or previous[1] < lookback_start
        settled = (
            first_use is not None and address.first - first_use > self._config.unfamiliar_ip_grace
        )
        if not (unfamiliar and settled):
            return
        await raise_alert(
            self._outbox,
            address.project_id,
            key_id,
            AlertKind.UNFAMILIAR_IP,
            condition=f"ip:{ip}:{address.first.date().isoformat()}",
            window=(address.first, address.last),
            evidence={
                "ip": ip,
                "requests": address.requests,
                "knownAddresses": len(known),
                "keyInUseSince": first_use.isoformat() if first_use else None,
            },
            now=address.first,
        )

    async def revoked_key_in_use(self, record: UsageRecord) -> None:
        day = record.at.date()
        start = datetime.combine(day, datetime.min.time(), record.at.tzinfo)
        await raise_alert(
            self._outbox,
            record.project_id,
            record.api_key_id,
            AlertKind.REVOKED_KEY_IN_USE,
            condition=f"day:{day.isoformat()}",
            window=(start, start + timedelta(days=1)),
            evidence={
                "reason": record.auth_failure,
                "ip": record.client_ip,
                "at": record.at.isoformat(),
            },
            now=record.at,
        )


async def _known_addresses(
    key_ids: set[str],
) -> dict[str, dict[str, tuple[datetime, datetime]]]:
    """Per key, every address it was used from: (first seen, last seen)."""
    rows = await KeyClientIp.select(
        KeyClientIp.api_key_id, KeyClientIp.ip, KeyClientIp.first_seen_at, KeyClientIp.last_seen_at
    ).where(KeyClientIp.api_key_id.is_in(list(key_ids)))
    known: dict[str, dict[str, tuple[datetime, datetime]]] = defaultdict(dict)
    for row in rows:
        known[row["api_key_id"]][row["ip"]] = (
            db.time_value(row["first_seen_at"]),
            db.time_value(row["last_seen_at"]),
        )
    return known


async def raise_alert(
    outbox: Outbox,
    project_id: uuid.UUID,
    key_id: str,
    kind: AlertKind,
    *,
    condition: str,
    window: tuple[datetime, datetime],
    evidence: dict[str, Any],
    now: datetime,
) -> uuid.UUID | None:
    """Store the alert unless this condition already raised one; the project's webhooks are
    told in the same transaction. The new alert's id, or None when it was raised before."""
    alert_id = uuid.uuid4()
    inserted = await db.fetch(
        _INSERT_ALERT,
        alert_id,
        project_id,
        key_id,
        kind.value,
        condition,
        window[0],
        window[1],
        json.dumps(evidence),
        now,
    )
    if not inserted:
        return None
    await outbox.publish(
        project_id,
        WebhookEvent.SECURITY_ALERT_RAISED,
        {
            "alertId": str(alert_id),
            "kind": kind.value,
            "apiKeyId": key_id,
            "windowStart": window[0].isoformat(),
            "windowEnd": window[1].isoformat(),
            "evidence": evidence,
        },
        now=now,
    )
    return alert_id
