"""Turning a batch of usage records into stored facts: raw events, hourly aggregates per key
and per project, the addresses each key is used from, and security alerts.

Runs off the request path, one transaction per batch. Alerts are raised once per condition: a
unique (key, kind, condition) index makes a repeated detection a no-op.

    UNFAMILIAR_IP       a key used from an address it has not used in the lookback (30 days),
                        once the key has been in use for longer than its first day
    REQUEST_SPIKE       an hour's requests above factor x the trailing median of hourly counts
                        (168 h, hours without traffic as 0) and above an absolute floor
    ERROR_SPIKE         the same on errors (client, server and upstream), with its own floor
    REVOKED_KEY_IN_USE  a deleted or expired key presented again: once per key and day
"""

from __future__ import annotations

import json
import logging
import random
import statistics
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from piccolo.columns.combination import WhereRaw

from app import db
from app.security.refusals import NO_LONGER_VALID
from app.settings import MonitoringConfig
from app.usage.recorder import BatchOutcome, UsageRecord
from app.usage.tables import KeyClientIp, UsageEvent, UsageHourly

log = logging.getLogger(__name__)


class AlertKind(StrEnum):
    UNFAMILIAR_IP = "UNFAMILIAR_IP"
    REQUEST_SPIKE = "REQUEST_SPIKE"
    ERROR_SPIKE = "ERROR_SPIKE"
    REVOKED_KEY_IN_USE = "REVOKED_KEY_IN_USE"


class Outcome(StrEnum):
    SUCCESS = "success"
    CLIENT_ERROR = "client_error"
    SERVER_ERROR = "server_error"
    UPSTREAM_ERROR = "upstream_error"
    AUTH_FAILURE = "auth_failure"


def outcome_of(record: UsageRecord) -> Outcome:
    if record.auth_failure is not None:
        return Outcome.AUTH_FAILURE
    if record.status < 400 and not record.rejected:
        return Outcome.SUCCESS
    if record.upstream_failed or record.status in (502, 504):
        return Outcome.UPSTREAM_ERROR
    if record.status >= 500:
        return Outcome.SERVER_ERROR
    return Outcome.CLIENT_ERROR


def hour_of(instant: datetime) -> datetime:
    return instant.replace(minute=0, second=0, microsecond=0)


@dataclass
class _Hour:
    project_id: uuid.UUID
    counts: dict[Outcome, int] = field(default_factory=lambda: defaultdict(int))
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def errors(self) -> int:
        return sum(self.counts[o] for o in _ERRORS)


_ERRORS = (Outcome.CLIENT_ERROR, Outcome.SERVER_ERROR, Outcome.UPSTREAM_ERROR)


@dataclass
class _Address:
    project_id: uuid.UUID
    first: datetime
    last: datetime
    requests: int = 0


_EVENT_COLUMNS = (
    "id",
    "project_id",
    "api_key_id",
    "provider",
    "model",
    "endpoint",
    "status",
    "latency_ms",
    "input_tokens",
    "output_tokens",
    "client_ip",
    "auth_failure",
    "created_at",
)

# On SQLite an event row is bound as its record's values (`_SQLiteEventRows`) and SQLite works
# out the id and the stored time from the time in microseconds since the epoch, the row's last
# value: formatting them cost more than the insert itself, and there it runs on the driver's
# thread without the interpreter lock instead of on the serving event loop.
_MICROS = f"column{len(_EVENT_COLUMNS) - 1}"
# `_time_ordered_text`'s UUIDv7: 48-bit millisecond time, version 7, 12 random bits, the RFC 9562
# variant, 62 random bits.
_SQLITE_EVENT_ID = (
    "printf('%08x-%04x-7%03x-%04x-%012x', "
    f"({_MICROS} / 1000) >> 16, ({_MICROS} / 1000) & 65535, random() & 4095, "
    "(random() & 16383) | 32768, random() & 281474976710655)"
)
# The text Piccolo stores for an aware datetime (str() of it in UTC): no fraction when the
# microseconds are 0, as str() does.
_SQLITE_EVENT_TIME = (
    f"strftime('%Y-%m-%d %H:%M:%S', {_MICROS} / 1000000, 'unixepoch') "
    f"|| CASE WHEN {_MICROS} % 1000000 = 0 THEN '' "
    f"ELSE printf('.%06d', {_MICROS} % 1000000) END || '+00:00'"
)
_SQLITE_EVENT_COLUMNS = (
    ("id", _SQLITE_EVENT_ID),
    *((name, f"column{index}") for index, name in enumerate(_EVENT_COLUMNS[1:-1], 1)),
    ("created_at", _SQLITE_EVENT_TIME),
)

# The counters both hourly tables keep, in the order `_counts()` gives them.
_COUNTERS = (
    "requests",
    "client_errors",
    "server_errors",
    "upstream_errors",
    "auth_failures",
    "input_tokens",
    "output_tokens",
)


def _adding_upsert(table: str, keys: tuple[str, ...], conflict: tuple[str, ...]) -> str:
    """An insert of one row per key that adds its counters to a row already there."""
    columns = (*keys, *_COUNTERS)
    added = ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in _COUNTERS)
    # Table and column names are this module's constants, never input.
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608
        f"VALUES ({', '.join('{}' for _ in columns)}) "
        f"ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {added}"
    )


_UPSERT_HOUR = _adding_upsert(
    "usage_hourly", ("id", "project_id", "api_key_id", "hour_start"), ("api_key_id", "hour_start")
)
_UPSERT_PROJECT_HOUR = _adding_upsert(
    "usage_project_hourly", ("id", "project_id", "hour_start"), ("project_id", "hour_start")
)

_UPSERT_ADDRESS = """
INSERT INTO key_client_ips (id, project_id, api_key_id, ip, first_seen_at, last_seen_at, requests)
VALUES ({}, {}, {}, {}, {}, {}, {})
ON CONFLICT (api_key_id, ip) DO UPDATE SET
    last_seen_at = CASE WHEN excluded.last_seen_at > key_client_ips.last_seen_at
        THEN excluded.last_seen_at ELSE key_client_ips.last_seen_at END,
    requests = key_client_ips.requests + excluded.requests
"""

_INSERT_ALERT = """
INSERT INTO security_alerts (id, project_id, api_key_id, kind, condition, window_start,
    window_end, evidence, created_at)
VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})
ON CONFLICT (api_key_id, kind, condition) DO NOTHING
"""


# (key id, hour, "requests" | "errors")
_SpikeCondition = tuple[str, datetime, str]


class UsageIngest:
    def __init__(self, config: MonitoringConfig, raw_retention: timedelta) -> None:
        self._config = config
        self._raw_retention = raw_retention
        # Per (key, hour, measure): the spike threshold, fixed once the hour has begun (it rests
        # on the hours before), and whether this process already raised the alert. A busy key
        # then costs one read per batch, not a read of its previous week every batch.
        self._thresholds: dict[_SpikeCondition, tuple[float, float]] = {}
        self._raised: set[_SpikeCondition] = set()
        # Raised in the transaction under way: known as raised only once it commits.
        self._raising: set[_SpikeCondition] = set()

    async def write(self, batch: Sequence[UsageRecord]) -> BatchOutcome:
        """Store a batch in one transaction. When the database refuses it for what a record
        holds, the records go one by one: a bad record costs only itself, not its batch."""
        try:
            await self(batch)
        except Exception as error:
            if not db.is_bad_data(error):
                raise
            return await self._write_each(batch)
        return BatchOutcome(written=len(batch))

    async def _write_each(self, batch: Sequence[UsageRecord]) -> BatchOutcome:
        written = 0
        for record in batch:
            try:
                await self([record])
            except Exception as error:
                if not db.is_bad_data(error):
                    raise
                log.warning("dropped a usage record the database refused: %s", type(error).__name__)
            else:
                written += 1
        return BatchOutcome(written=written, refused=len(batch) - written)

    async def __call__(self, batch: Sequence[UsageRecord]) -> None:
        sqlite = db.is_sqlite()
        digest = _Digest.of(batch, _SQLiteEventRows() if sqlite else _postgres_event)
        self._raising = set()
        async with db.transaction():
            if sqlite:
                await db.insert_computed_rows("usage_events", _SQLITE_EVENT_COLUMNS, digest.events)
            else:
                await db.copy_rows("usage_events", _EVENT_COLUMNS, digest.events)
            hours = digest.hours
            # Rows in key order: concurrent batches of other processes then take the rows'
            # locks in the same order, and cannot deadlock on them.
            await db.execute_many(
                _UPSERT_HOUR,
                [_hour_row(key, hour, hours[key, hour]) for key, hour in sorted(hours)],
            )
            await db.execute_many(_UPSERT_PROJECT_HOUR, _project_hour_rows(hours))
            await self._check_spikes(hours)
            await self._add_addresses(digest.addresses)
            for record in digest.revoked_in_use:
                await self._revoked_key_in_use(record)
        self._raised |= self._raising

    async def forget_raw_events(self, now: datetime, *, chunk: int = 10_000) -> int:
        """Raw detail past retention goes, `chunk` rows per transaction: the first run over a
        month of traffic must not hold the write lock (on SQLite, every writer's) for as long as
        deleting millions of rows takes. The hourly aggregates stay. Returns how many went.

        Hourly housekeeping also refreshes the planner's statistics of the hourly table.
        """
        cutoff = now - self._raw_retention
        forgotten = 0
        while True:
            async with db.transaction():
                expired = (
                    UsageEvent.select(UsageEvent.id)
                    .where(UsageEvent.created_at < cutoff)
                    .limit(chunk)
                )
                gone = await (
                    UsageEvent.delete().where(UsageEvent.id.is_in(expired)).returning(UsageEvent.id)
                )
            forgotten += len(gone)
            if len(gone) < chunk:
                break
        async with db.transaction():
            await db.engine().run_ddl("ANALYZE usage_hourly")
        return forgotten

    async def _check_spikes(self, hours: dict[tuple[str, datetime], _Hour]) -> None:
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
        await _raise_alert(
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

    async def _add_addresses(self, addresses: dict[tuple[str, str], _Address]) -> None:
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
        await db.execute_many(
            _UPSERT_ADDRESS,
            [
                (uuid.uuid4(), a.project_id, key_id, ip, a.first, a.last, a.requests)
                for (key_id, ip), a in sorted(addresses.items())
            ],
        )

    async def _check_familiarity(
        self,
        key_id: str,
        ip: str,
        address: _Address,
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
        await _raise_alert(
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

    async def _revoked_key_in_use(self, record: UsageRecord) -> None:
        day = record.at.date()
        start = datetime.combine(day, datetime.min.time(), record.at.tzinfo)
        await _raise_alert(
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


async def _raise_alert(
    project_id: uuid.UUID,
    key_id: str,
    kind: AlertKind,
    *,
    condition: str,
    window: tuple[datetime, datetime],
    evidence: dict[str, Any],
    now: datetime,
) -> None:
    await db.fetch(
        _INSERT_ALERT,
        uuid.uuid4(),
        project_id,
        key_id,
        kind.value,
        condition,
        window[0],
        window[1],
        json.dumps(evidence),
        now,
    )


@dataclass
class _Digest:
    """A batch in one pass: its raw event rows, and its totals per key and hour and per key and
    address. One pass, because this runs on the serving event loop."""

    events: list[tuple[Any, ...]] = field(default_factory=list)
    hours: dict[tuple[str, datetime], _Hour] = field(default_factory=dict)
    addresses: dict[tuple[str, str], _Address] = field(default_factory=dict)
    revoked_in_use: list[UsageRecord] = field(default_factory=list)

    @classmethod
    def of(cls, batch: Sequence[UsageRecord], event_row: _EventRow) -> _Digest:
        digest = cls()
        hour_starts: dict[int, datetime] = {}
        for record in batch:
            seconds = record.at.timestamp()
            hour_number = int(seconds // 3600)
            hour = hour_starts.get(hour_number)
            if hour is None:
                hour = hour_starts[hour_number] = datetime.fromtimestamp(hour_number * 3600, UTC)
            digest.events.append(event_row(record, seconds))
            digest._count(record, hour)
            if record.auth_failure is None:
                if record.client_ip is not None:
                    digest._saw_address(record, record.client_ip)
            elif record.auth_failure in NO_LONGER_VALID:
                digest.revoked_in_use.append(record)
        return digest

    def _count(self, record: UsageRecord, hour: datetime) -> None:
        key = (record.api_key_id, hour)
        totals = self.hours.get(key)
        if totals is None:
            totals = self.hours[key] = _Hour(project_id=record.project_id)
        totals.counts[outcome_of(record)] += 1
        totals.input_tokens += record.input_tokens or 0
        totals.output_tokens += record.output_tokens or 0

    def _saw_address(self, record: UsageRecord, ip: str) -> None:
        # Refused requests (auth_failure) say nothing about where the key is really used.
        key = (record.api_key_id, ip)
        address = self.addresses.get(key)
        if address is None:
            address = self.addresses[key] = _Address(record.project_id, record.at, record.at)
        elif record.at < address.first:
            address.first = record.at
        elif record.at > address.last:
            address.last = record.at
        address.requests += 1


# Ids only need to be unique and time-ordered, not unpredictable: the process's fast generator
# (seeded from the OS) instead of a system call per row.
_id_bits = random.Random()  # noqa: S311
_RANDOM_BITS = (2**80 - 1) & ~(0xF << 76) & ~(0x3 << 62)
_VERSION_AND_VARIANT = (0x7 << 76) | (0x2 << 62)  # version 7, RFC 4122 variant


def _time_ordered_text(seconds: float) -> str:
    """A UUIDv7 (48-bit millisecond time, then random bits) in its text form.

    Rows written in time order then land at the end of the primary-key index instead of at a
    random page, which is most of the cost of bulk inserts on a large table.
    """
    millis = int(seconds * 1000) & (2**48 - 1)
    value = (millis << 80) | (_id_bits.getrandbits(80) & _RANDOM_BITS) | _VERSION_AND_VARIANT
    digits = f"{value:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def time_ordered_id(at: datetime) -> uuid.UUID:
    return uuid.UUID(_time_ordered_text(at.timestamp()))


def _hour_row(key_id: str, hour: datetime, totals: _Hour) -> tuple[Any, ...]:
    return (time_ordered_id(hour), totals.project_id, key_id, hour, *_counts(totals))


def _counts(totals: _Hour) -> tuple[int, ...]:
    """The `_COUNTERS` of an hour."""
    counts = totals.counts
    return (
        sum(counts.values()),
        counts[Outcome.CLIENT_ERROR],
        counts[Outcome.SERVER_ERROR],
        counts[Outcome.UPSTREAM_ERROR],
        counts[Outcome.AUTH_FAILURE],
        totals.input_tokens,
        totals.output_tokens,
    )


def _project_hour_rows(hours: dict[tuple[str, datetime], _Hour]) -> list[tuple[Any, ...]]:
    """The batch's per-key hours summed per project and hour, in (project, hour) order."""
    sums: dict[tuple[uuid.UUID, datetime], tuple[int, ...]] = {}
    for (_, hour), totals in hours.items():
        counts = _counts(totals)
        known = sums.get((totals.project_id, hour))
        sums[totals.project_id, hour] = (
            counts if known is None else tuple(a + b for a, b in zip(known, counts, strict=True))
        )
    return [
        (time_ordered_id(hour), project_id, hour, *sums[project_id, hour])
        for project_id, hour in sorted(sums)
    ]


# An event's row for the active engine, given the record and its `timestamp()`.
_EventRow = Callable[[UsageRecord, float], tuple[Any, ...]]


def _postgres_event(record: UsageRecord, seconds: float) -> tuple[Any, ...]:
    """A row of `_EVENT_COLUMNS` for PostgreSQL's COPY."""
    return (_time_ordered_text(seconds), record.project_id, *_details(record), record.at)


class _SQLiteEventRows:
    """The values `_SQLITE_EVENT_COLUMNS` are worked out from, for one batch."""

    def __init__(self) -> None:
        # The text SQLite stores for each project id, made once per batch.
        self._projects: dict[uuid.UUID, str] = {}

    def __call__(self, record: UsageRecord, seconds: float) -> tuple[Any, ...]:
        project = self._projects.get(record.project_id)
        if project is None:
            project = self._projects[record.project_id] = str(record.project_id)
        return (project, *_details(record), _micros(record.at, seconds))


def _details(record: UsageRecord) -> tuple[Any, ...]:
    """The columns between project_id and created_at, as both engines store them."""
    return (
        record.api_key_id,
        record.provider,
        record.model,
        record.endpoint,
        record.status,
        record.latency_ms,
        record.input_tokens,
        record.output_tokens,
        record.client_ip,
        record.auth_failure,
    )


def _micros(at: datetime, seconds: float) -> int:
    """`at` in whole microseconds since the epoch, given `seconds`, its `timestamp()`.

    Not `round(seconds * 1e6)`: past 2100 that is off by one now and then. A float's whole
    seconds are exact until 2242, far beyond any record's time.
    """
    return int(seconds) * 1_000_000 + at.microsecond
