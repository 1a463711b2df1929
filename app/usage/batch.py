"""What a batch of usage records adds up to, worked out in one pass: its raw event rows, its
totals per key and hour, the addresses each key was used from, and the refused uses of keys no
longer valid. Written by `ingest.py`; watched by `alerts.py`."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from app.security.refusals import NO_LONGER_VALID
from app.usage.recorder import UsageRecord


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
class HourTotals:
    project_id: uuid.UUID
    counts: dict[Outcome, int] = field(default_factory=lambda: defaultdict(int))
    input_tokens: int = 0
    output_tokens: int = 0
    cost_micros: int = 0
    # Tokens of requests for models without a price: counted in token budgets, not in spend.
    unpriced_tokens: int = 0

    @property
    def errors(self) -> int:
        return sum(self.counts[o] for o in _ERRORS)


_ERRORS = (Outcome.CLIENT_ERROR, Outcome.SERVER_ERROR, Outcome.UPSTREAM_ERROR)


@dataclass
class AddressTotals:
    project_id: uuid.UUID
    first: datetime
    last: datetime
    requests: int = 0


@dataclass
class BatchTotals:
    """A batch in one pass: its raw event rows, and its totals per key and hour and per key and
    address."""

    events: list[tuple[Any, ...]] = field(default_factory=list)
    hours: dict[tuple[str, datetime], HourTotals] = field(default_factory=dict)
    addresses: dict[tuple[str, str], AddressTotals] = field(default_factory=dict)
    revoked_in_use: list[UsageRecord] = field(default_factory=list)

    @classmethod
    def of(cls, batch: Sequence[UsageRecord], event_row: EventRow) -> BatchTotals:
        totals = cls()
        hour_starts: dict[int, datetime] = {}
        for record in batch:
            seconds = record.at.timestamp()
            hour_number = int(seconds // 3600)
            hour = hour_starts.get(hour_number)
            if hour is None:
                hour = hour_starts[hour_number] = datetime.fromtimestamp(hour_number * 3600, UTC)
            totals.events.append(event_row(record, seconds))
            totals._count(record, hour)
            if record.auth_failure is None:
                if record.client_ip is not None:
                    totals._saw_address(record, record.client_ip)
            elif record.auth_failure in NO_LONGER_VALID:
                totals.revoked_in_use.append(record)
        return totals

    def _count(self, record: UsageRecord, hour: datetime) -> None:
        key = (record.api_key_id, hour)
        totals = self.hours.get(key)
        if totals is None:
            totals = self.hours[key] = HourTotals(project_id=record.project_id)
        totals.counts[outcome_of(record)] += 1
        tokens = (record.input_tokens or 0) + (record.output_tokens or 0)
        totals.input_tokens += record.input_tokens or 0
        totals.output_tokens += record.output_tokens or 0
        if record.cost_micros is not None:
            totals.cost_micros += record.cost_micros
        else:
            totals.unpriced_tokens += tokens

    def _saw_address(self, record: UsageRecord, ip: str) -> None:
        # Refused requests (auth_failure) say nothing about where the key is really used.
        key = (record.api_key_id, ip)
        address = self.addresses.get(key)
        if address is None:
            address = self.addresses[key] = AddressTotals(record.project_id, record.at, record.at)
        elif record.at < address.first:
            address.first = record.at
        elif record.at > address.last:
            address.last = record.at
        address.requests += 1


# An event's row for the active engine, given the record and its `timestamp()`.
EventRow = Callable[[UsageRecord, float], tuple[Any, ...]]
