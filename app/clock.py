"""The one source of "now", so expiry and lifetimes are testable without sleeping."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


def is_expired(expires_at: datetime | None, now: datetime) -> bool:
    """The one definition, for keys and tokens alike: expired from the instant of expiry on;
    no expiry, never."""
    return expires_at is not None and expires_at <= now


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Clock(Protocol):
    def now(self) -> datetime: ...

    def now_ms(self) -> int:
        """Now in milliseconds since the epoch: what counters work in, asked on every proxied
        request (building a datetime to get it costs several times as much)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class FrozenClock:
    """A clock that moves only when told to; tests use it to cross expiry instants."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)

    def now(self) -> datetime:
        return self._now

    def now_ms(self) -> int:
        # Exact (a float timestamp may land a millisecond short).
        return (self._now - _EPOCH) // timedelta(milliseconds=1)

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, instant: datetime) -> None:
        self._now = instant
