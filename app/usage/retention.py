"""Raw usage events past retention are deleted hourly, by one serving process at a time.

Every serving process runs the chore (it is the usage recorder's hourly housekeeping); the one
holding the retention lease deletes, and takes the lease again the next hour. The lease is held
for two hours, so that when its holder is gone another process takes over within three hours of
the holder's last run. The hourly aggregates stay.
"""

from __future__ import annotations

from datetime import timedelta

from app import leases
from app.clock import Clock
from app.usage.ingest import UsageIngest


class RawEventRetention:
    LEASE = "usage-raw-retention"
    HOLD_FOR = timedelta(hours=2)

    def __init__(self, ingest: UsageIngest, clock: Clock) -> None:
        self._ingest = ingest
        self._clock = clock
        self._holder = leases.new_holder()

    async def run(self) -> None:
        now = self._clock.now()
        if await leases.take(self.LEASE, self._holder, now=now, duration=self.HOLD_FOR):
            await self._ingest.forget_raw_events(now)
