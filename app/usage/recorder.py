"""The batched usage recorder: the request path hands over a record and moves on.

Records wait in a bounded in-memory queue and are written in batches every few seconds and at
shutdown. If the database is unavailable they stay queued; when the queue is full the oldest are
dropped and counted (`dropped`), so memory stays bounded whatever happens downstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec

log = logging.getLogger(__name__)


# A msgspec Struct rather than a dataclass: one is built on every recorded request, and a Struct
# is built in a third of the time and goes to the usage writer in one C call. `gc=False` keeps
# the thousands waiting in the queue out of the garbage collector's way: they hold only strings,
# numbers, datetimes and a shared UUID, so they can never be part of a reference cycle.
# `omit_defaults` leaves unset fields out of the message (they arrive as their defaults).
class UsageRecord(msgspec.Struct, gc=False, omit_defaults=True):
    project_id: uuid.UUID
    api_key_id: str
    endpoint: str
    status: int
    latency_ms: int
    at: datetime
    provider: str | None = None
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    client_ip: str | None = None
    # A `Refusal` value (revoked, expired, bad_secret) when the request was refused for a known
    # key.
    auth_failure: str | None = None
    # The provider failed (unreachable, timeout, 5xx): not the caller's fault, nor ours.
    upstream_failed: bool = False
    # Answered 200 but refused in the body (a GraphQL operation that ended in errors).
    rejected: bool = False
    # Refused by the key's policy: a `PolicyRefusal` value (scope, address, budget, ...).
    policy_refusal: str | None = None
    # What the tokens cost at the model's price, in millionths of a dollar; None: no price.
    cost_micros: int | None = None


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    written: int
    # Records the database refused for what they hold: dropped, so that they cannot block
    # every later batch.
    refused: int = 0


# Writes a batch, or raises when it cannot (the database is unreachable): the recorder then
# keeps the batch for a later flush.
UsageSink = Callable[[Sequence[UsageRecord]], Awaitable[BatchOutcome]]


class UsageRecorder:
    def __init__(
        self,
        sink: UsageSink,
        *,
        max_pending: int = 100_000,
        # Larger batches share commits and fold more records into each hourly row.
        batch_size: int = 5_000,
        flush_every: timedelta = timedelta(seconds=2),
        enabled: bool = True,
        housekeeping: Callable[[], Awaitable[None]] | None = None,
        housekeeping_every: timedelta = timedelta(hours=1),
    ) -> None:
        self.enabled = enabled
        self._sink = sink
        self._housekeeping = housekeeping
        self._housekeeping_every = housekeeping_every.total_seconds()
        self._last_housekeeping = time.monotonic()
        self._pending: deque[UsageRecord] = deque()
        self._max_pending = max_pending
        self._batch_size = batch_size
        self._flush_every = flush_every
        # One flush at a time: a flush called while another is under way returns only once
        # what that one took is written too, and a failed batch goes back in front of the queue
        # before another flush takes from it.
        self._flushing = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.dropped = 0
        self.written = 0
        # Batches that could not be written (database or usage writer unavailable), and so
        # were kept for a later flush.
        self.failed_batches = 0

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @property
    def queue_depth(self) -> int:
        return len(self._pending)

    def record(self, record: UsageRecord) -> None:
        """O(1) and never blocks: safe on the request path."""
        if not self.enabled:
            return
        if len(self._pending) >= self._max_pending:
            self._pending.popleft()
            self.dropped += 1
        self._pending.append(record)

    async def flush(self) -> int:
        """Write what is queued now, a batch per transaction; returns how many were written.

        Records that arrive meanwhile wait for the next flush. Draining until the queue is empty
        would, under steady traffic, never end: each transaction would carry only the few
        records that came in while the previous one committed, and pay a connection, a commit
        and the alert checks for them, over and over.
        """
        async with self._flushing:
            return await self._write_queued()

    async def _write_queued(self) -> int:
        written = 0
        left = len(self._pending)
        while left > 0 and self._pending:
            batch = [self._pending.popleft() for _ in range(min(self._batch_size, left))]
            left -= len(batch)
            try:
                outcome = await self._sink(batch)
            except BaseException as error:
                self._requeue(batch)
                if isinstance(error, Exception):  # not a cancellation
                    self.failed_batches += 1
                raise
            written += outcome.written
            self.dropped += outcome.refused
        self.written += written
        return written

    def _requeue(self, batch: list[UsageRecord]) -> None:
        # The batch is older than anything queued meanwhile: it goes back in front, and what does
        # not fit is the oldest, so it is what gets dropped.
        room = max(0, self._max_pending - len(self._pending))
        kept = batch[len(batch) - room :] if room < len(batch) else batch
        self.dropped += len(batch) - len(kept)
        self._pending.extendleft(reversed(kept))

    async def _tidy_up(self) -> None:
        if self._housekeeping is None:
            return
        if time.monotonic() - self._last_housekeeping >= self._housekeeping_every:
            self._last_housekeeping = time.monotonic()
            await self._housekeeping()

    def start(self) -> None:
        self._stopping = asyncio.Event()
        self._flushing = asyncio.Lock()
        self._task = asyncio.create_task(self._run(), name="usage-recorder")

    async def stop(self) -> None:
        """Let a flush under way finish (never cancel it mid-commit), then write the rest."""
        if self._task is not None:
            self._stopping.set()
            await self._task
            self._task = None
        try:
            await self.flush()
            await self.flush()  # what requests finishing during shutdown recorded meanwhile
        except Exception:
            log.exception("could not write %d usage records at shutdown", len(self._pending))

    async def _run(self) -> None:
        written = True
        while not self._stopping.is_set():
            # A full batch goes at once: with traffic faster than a flush interval's worth of
            # writes, waiting anyway would let the queue grow until it dropped records. After a
            # failure, wait regardless: the database needs the time, not another attempt.
            if not written or len(self._pending) < self._batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._flush_every.total_seconds())
            try:
                await self.flush()
                await self._tidy_up()
            except Exception:
                written = False
                log.warning(
                    "usage records not written (database unavailable?); %d queued, %d dropped",
                    len(self._pending),
                    self.dropped,
                )
            else:
                written = True
