"""Writing a batch of usage records: raw events, hourly aggregates per key and per project, and
the addresses each key is used from, in one transaction with the security checks of `alerts.py`.

Runs off the request path: in the usage writer process (or the serving process, inline).
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app import db
from app.settings import MonitoringConfig
from app.usage.alerts import SecurityMonitor
from app.usage.batch import AddressTotals, BatchTotals, HourTotals, Outcome, hour_of
from app.usage.recorder import BatchOutcome, UsageRecord
from app.webhooks.events import Outbox

log = logging.getLogger(__name__)

__all__ = ["UsageIngest", "hour_of", "time_ordered_id"]


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
    "policy_refusal",
    "cost_micros",
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
    "cost_micros",
    "unpriced_tokens",
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


class UsageIngest:
    def __init__(self, config: MonitoringConfig, outbox: Outbox | None = None) -> None:
        # The outbox tells this process's webhook dispatcher of alerts at once; a usage writer
        # process has none, and the serving processes find its alerts' deliveries by polling.
        self._monitor = SecurityMonitor(config, outbox)

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
        totals = BatchTotals.of(batch, _SQLiteEventRows() if sqlite else _postgres_event)
        self._monitor.begin()
        async with db.transaction():
            if sqlite:
                await db.insert_computed_rows("usage_events", _SQLITE_EVENT_COLUMNS, totals.events)
            else:
                await db.copy_rows("usage_events", _EVENT_COLUMNS, totals.events)
            hours = totals.hours
            # Rows in key order: concurrent batches of other processes then take the rows'
            # locks in the same order, and cannot deadlock on them.
            await db.execute_many(
                _UPSERT_HOUR,
                [_hour_row(key, hour, hours[key, hour]) for key, hour in sorted(hours)],
            )
            await db.execute_many(_UPSERT_PROJECT_HOUR, _project_hour_rows(hours))
            await self._monitor.check_spikes(hours)
            await self._monitor.check_addresses(totals.addresses)
            await _add_addresses(totals.addresses)
            for record in totals.revoked_in_use:
                await self._monitor.revoked_key_in_use(record)
        self._monitor.committed()


async def _add_addresses(addresses: dict[tuple[str, str], AddressTotals]) -> None:
    await db.execute_many(
        _UPSERT_ADDRESS,
        [
            (uuid.uuid4(), a.project_id, key_id, ip, a.first, a.last, a.requests)
            for (key_id, ip), a in sorted(addresses.items())
        ],
    )


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


def _hour_row(key_id: str, hour: datetime, totals: HourTotals) -> tuple[Any, ...]:
    return (time_ordered_id(hour), totals.project_id, key_id, hour, *_counts(totals))


def _counts(totals: HourTotals) -> tuple[int, ...]:
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
        totals.cost_micros,
        totals.unpriced_tokens,
    )


def _project_hour_rows(hours: dict[tuple[str, datetime], HourTotals]) -> list[tuple[Any, ...]]:
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
        record.policy_refusal,
        record.cost_micros,
    )


def _micros(at: datetime, seconds: float) -> int:
    """`at` in whole microseconds since the epoch, given `seconds`, its `timestamp()`.

    Not `round(seconds * 1e6)`: past 2100 that is off by one now and then. A float's whole
    seconds are exact until 2242, far beyond any record's time.
    """
    return int(seconds) * 1_000_000 + at.microsecond
