"""The one source of "now", so expiry and lifetimes are testable without sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


def is_expired(expires_at: datetime | None, now: datetime) -> bool:
    """The one definition, for keys and tokens alike: expired from the instant of expiry on;
    no expiry, never."""
    return expires_at is not None and expires_at <= now


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that moves only when told to; tests use it to cross expiry instants."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, instant: datetime) -> None:
        self._now = instant
