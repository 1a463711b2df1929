"""Raw usage events past retention are deleted hourly, by one serving process at a time.

Every serving process runs the chore (it is the usage recorder's hourly housekeeping); the one
holding the retention lease deletes, and takes the lease again the next hour. The lease is held
for two hours, so that when its holder is gone another process takes over within three hours of
the holder's last run. The hourly aggregates stay.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from app import db, leases
from app.clock import Clock
from app.usage.tables import UsageEvent


class RawEventRetention:
    LEASE = "usage-raw-retention"
    HOLD_FOR = timedelta(hours=2)

    def __init__(self, clock: Clock, forget: Callable[[datetime], Awaitable[int]]) -> None:
        self._forget = forget
        self._clock = clock
        self._holder = leases.new_holder()

    async def run(self) -> None:
        now = self._clock.now()
        if await leases.take(self.LEASE, self._holder, now=now, duration=self.HOLD_FOR):
            await self._forget(now)


async def forget_raw_events(now: datetime, retention: timedelta, *, chunk: int = 10_000) -> int:
    """Raw detail past retention goes, `chunk` rows per transaction: the first run over a
    month of traffic must not hold the write lock (on SQLite, every writer's) for as long as
    deleting millions of rows takes. The hourly aggregates stay. Returns how many went.

    Hourly housekeeping also refreshes the planner's statistics of the hourly table.
    """
    cutoff = now - retention
    forgotten = 0
    while True:
        async with db.transaction():
            expired = (
                UsageEvent.select(UsageEvent.id).where(UsageEvent.created_at < cutoff).limit(chunk)
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
