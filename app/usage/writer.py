"""Usage batches written by a child process, so that serving does not pay for them.

Aggregating and writing a batch (raw events, hourly rows, addresses, alert checks) costs
several microseconds of CPU per record. In the serving process every bit of it competes with
requests for the one interpreter lock, even what runs on a database driver's thread. Here a
child process does it, on another core: the serving process packs each batch into one message
(a fraction of a microsecond per record) and waits for the child's answer, so the recorder's
contract holds: a batch is written, or kept for a later flush. A record that cannot be written
for what it holds (one the encoder, the child or the database refuses) is dropped and counted
as refused, never held back with its batch: retrying it would only block every later one.

The child (`app.usage.writer_child`) lives as long as its input pipe. It ignores SIGINT and
SIGTERM, so that a Ctrl+C or a stop signal sent to the whole process group cannot end it before
the server's last flush, and exits when its input closes: when the server stops, or dies. Should
the child die or stop answering, the batch in flight stays with the recorder and the next batch
starts a new child. A batch is counted twice if the child had committed it and died before
answering, or if the database went away while it was being written record by record (see
`UsageIngest.write`); nothing is lost.

Messages, both ways, are a 4-byte big-endian length and MessagePack (msgspec). To the child:
the `WriterConfig`, then batches (`pack`); from it, one `_Reply` per batch. Records travel as maps
of their field names, so a child started from newer code than the server's (a deploy while it
runs) still reads them: a field it does not know is skipped, a field it adds takes its default.
A server and a child whose message formats differ otherwise cannot talk: the child exits on the
configuration it cannot read (saying so on stderr) and every flush fails until the server is
restarted on the new code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import msgspec

from app import db
from app.observability import configure_logging
from app.settings import DatabaseConfig, MonitoringConfig, Settings
from app.usage.recorder import BatchOutcome, UsageRecord

log = logging.getLogger(__name__)

_LENGTH_BYTES = 4
# How long a batch may take: far beyond a slow commit (SQLite waits 30 s for its write lock), so
# a child past it is stuck, not busy.
_REPLY_TIMEOUT_S = 300.0
# How long a stopping server waits for the child to finish its batch and close the database.
_STOP_TIMEOUT_S = 30.0
# How long a child whose pipe broke gets to exit before it is killed.
_EXIT_WAIT_S = 1.0
# The directory holding the `app` package, for the child to import the same code.
_SOURCE_ROOT = Path(__file__).resolve().parents[2]

# The module the child runs (`python -P -m ...`).
_CHILD_MODULE = "app.usage.writer_child"

_encoder = msgspec.msgpack.Encoder(uuid_format="bytes")
_batch_decoder = msgspec.msgpack.Decoder(list[UsageRecord])
# For a batch with a record this code cannot read: the records one by one.
_raw_batch_decoder = msgspec.msgpack.Decoder(list[msgspec.Raw])
_record_decoder = msgspec.msgpack.Decoder(UsageRecord)


class UsageWriterError(RuntimeError):
    """The child could not write a batch; the recorder keeps it for a later flush."""


@dataclass(frozen=True)
class WriterConfig:
    """What the child needs: of the server's secrets, only the database's address."""

    database_url: str = field(repr=False)  # it may hold a password
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    log_level: str = "INFO"
    json_logs: bool = False

    @classmethod
    def of(cls, settings: Settings) -> WriterConfig:
        return cls(
            database_url=settings.database.url,
            monitoring=settings.monitoring,
            log_level=settings.log_level,
            json_logs=settings.log_format == "json",
        )

    @property
    def database(self) -> DatabaseConfig:
        # One batch at a time: one connection, and a spare.
        return DatabaseConfig(url=self.database_url, pool_max_size=2)


class _Reply(msgspec.Struct, frozen=True, omit_defaults=True):
    """The child's answer to a batch: what it wrote and refused, or why it could not (the
    error's type only: its text may quote the records)."""

    written: int = 0
    refused: int = 0
    error: str | None = None


_reply_decoder = msgspec.msgpack.Decoder(_Reply)


class ProcessWriter:
    """The recorder's sink: hands each batch to the child process and returns its outcome."""

    def __init__(self, config: WriterConfig) -> None:
        self._config = config
        self._child: asyncio.subprocess.Process | None = None
        self._closed = False
        # Children started so far: more than one means some died or stopped answering.
        self.started = 0
        # The recorder sends one batch at a time; this keeps a second caller (a shutdown flush
        # while a batch is in flight) from interleaving messages on the pipe.
        self._lock = asyncio.Lock()

    @property
    def pid(self) -> int | None:
        """The child's process id, while there is one."""
        return None if self._child is None else self._child.pid

    async def __call__(self, batch: Sequence[UsageRecord]) -> BatchOutcome:
        message, unsendable = pack(batch)
        if unsendable == len(batch):
            return BatchOutcome(written=0, refused=unsendable)
        async with self._lock:
            if self._closed:
                raise UsageWriterError("the usage writer is closed")
            child = self._child or await self._spawn()
            async with self._exchange(child):
                await _send(child, message)
                reply = await asyncio.wait_for(_receive(child), _REPLY_TIMEOUT_S)
        if reply.error is not None:
            raise UsageWriterError(f"the usage writer could not write a batch: {reply.error}")
        return BatchOutcome(written=reply.written, refused=reply.refused + unsendable)

    async def close(self) -> None:
        """Close the child's input and wait for it to exit (after the batch it is writing)."""
        async with self._lock:
            self._closed = True
            child, self._child = self._child, None
            if child is None:
                return
            assert child.stdin is not None
            child.stdin.close()
            try:
                await asyncio.wait_for(child.wait(), _STOP_TIMEOUT_S)
            except TimeoutError:
                log.warning("the usage writer process did not exit in time; killing it")
                _kill(child)
                await child.wait()

    async def _spawn(self) -> asyncio.subprocess.Process:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            # -P: the `app` package comes from PYTHONPATH, not from whatever the working
            # directory holds.
            "-P",
            "-m",
            _CHILD_MODULE,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=_child_environment(),
        )
        self._child = child
        self.started += 1
        async with self._exchange(child):
            await _send(child, _encoder.encode(self._config))
        return child

    @contextlib.asynccontextmanager
    async def _exchange(self, child: asyncio.subprocess.Process) -> AsyncIterator[None]:
        """Talking to the child: its failures as UsageWriterError, and a child interrupted
        mid-exchange dropped."""
        try:
            yield
        except TimeoutError:  # before OSError, of which it is a subclass
            status = await self._reap(child)
            raise UsageWriterError(
                f"the usage writer process did not answer in {_REPLY_TIMEOUT_S:g} s "
                f"and was stopped (status {status})"
            ) from None
        except (OSError, asyncio.IncompleteReadError):
            status = await self._reap(child)
            raise UsageWriterError(f"the usage writer process exited (status {status})") from None
        except msgspec.DecodeError:
            # Nothing it says can be trusted any more, the pipe's framing included.
            self._abandon(child)
            raise UsageWriterError(
                "the usage writer process answered something unreadable and was stopped"
            ) from None
        except BaseException:
            # Cancelled mid-exchange: the answer still to come would be taken for the next
            # batch's. A new child starts from a clean pipe.
            self._abandon(child)
            raise

    def _abandon(self, child: asyncio.subprocess.Process) -> None:
        if self._child is child:
            self._child = None
        _kill(child)  # the event loop reaps it

    async def _reap(self, child: asyncio.subprocess.Process) -> int | None:
        """Forget a child that is gone (or no longer answers), and say how it ended."""
        if self._child is child:
            self._child = None
        try:
            # A closed pipe usually means it is exiting already.
            status = await asyncio.wait_for(child.wait(), _EXIT_WAIT_S)
        except TimeoutError:
            _kill(child)
            status = await child.wait()
        log.warning(
            "the usage writer process exited with status %s; the next batch restarts it", status
        )
        return status


def _kill(child: asyncio.subprocess.Process) -> None:
    # It may have exited meanwhile (uvloop then raises).
    with contextlib.suppress(ProcessLookupError):
        child.kill()


def _child_environment() -> dict[str, str]:
    # Not the service's own settings: the child gets what it needs in its first message, and
    # keys it does not need stay out of its environment.
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("TRAYLINX_") and name != "DATABASE_URL"
    }
    path = environment.get("PYTHONPATH")
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_SOURCE_ROOT), path]))
    return environment


async def _send(child: asyncio.subprocess.Process, payload: bytes) -> None:
    assert child.stdin is not None
    child.stdin.write(len(payload).to_bytes(_LENGTH_BYTES, "big") + payload)
    await child.stdin.drain()


async def _receive(child: asyncio.subprocess.Process) -> _Reply:
    assert child.stdout is not None
    length = int.from_bytes(await child.stdout.readexactly(_LENGTH_BYTES), "big")
    return _reply_decoder.decode(await child.stdout.readexactly(length))


def pack(batch: Sequence[UsageRecord]) -> tuple[bytes, int]:
    """A batch as one message (in C, a fraction of a microsecond per record), and how many of
    its records were left out because they cannot be encoded (an integer beyond 64 bits, a
    string with a lone surrogate)."""
    try:
        return _encoder.encode(batch), 0
    except _UNENCODABLE as error:
        sendable = [record for record in batch if _encodable(record)]
        log.warning(
            "dropped %d usage records that cannot be encoded (%s)",
            len(batch) - len(sendable),
            type(error).__name__,
        )
        return _encoder.encode(sendable), len(batch) - len(sendable)


# UnicodeEncodeError is a ValueError.
_UNENCODABLE = (msgspec.EncodeError, OverflowError, TypeError, ValueError)


def _encodable(record: UsageRecord) -> bool:
    try:
        _encoder.encode(record)
    except _UNENCODABLE:
        return False
    return True


def unpack(message: bytes) -> tuple[list[UsageRecord], int]:
    """A batch's records, and how many of them this code cannot read (a field of another type
    in the sender's code, say): those are left out."""
    try:
        return _batch_decoder.decode(message), 0
    except msgspec.ValidationError as error:
        raw = _raw_batch_decoder.decode(message)
        records = [record for item in raw if (record := _readable(item)) is not None]
        log.warning(
            "dropped %d usage records this code cannot read (%s)",
            len(raw) - len(records),
            type(error).__name__,
        )
        return records, len(raw) - len(records)


def _readable(item: msgspec.Raw) -> UsageRecord | None:
    try:
        return _record_decoder.decode(item)
    except msgspec.ValidationError:
        return None


class _Child:
    """The child's side: the database connected at the first batch (again at the next one, if
    connecting failed)."""

    def __init__(self, config: WriterConfig) -> None:
        # Imported here: the serving process has no use for it.
        from app.usage.ingest import UsageIngest

        self._config = config
        self._ingest = UsageIngest(config.monitoring)
        self._connected = False

    async def write(self, message: bytes) -> _Reply:
        try:
            batch, unreadable = unpack(message)
            if not batch:
                return _Reply(refused=unreadable)
            if not self._connected:
                await db.connect(self._config.database.pool_max_size)
                self._connected = True
            outcome = await self._ingest.write(batch)
        except Exception as error:
            log.warning("could not write a batch of usage records: %s", type(error).__name__)
            return _Reply(error=type(error).__name__)
        return _Reply(written=outcome.written, refused=outcome.refused + unreadable)

    async def close(self) -> None:
        if self._connected:
            await db.stop()


def serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    """The child's life: its configuration, then a reply per batch until the input closes."""
    first = _read_message(requests)
    if first is None:
        return  # the server closed the pipe before it was configured
    try:
        config = msgspec.msgpack.decode(first, type=WriterConfig)
    except msgspec.DecodeError:
        raise SystemExit("the usage writer expects its configuration first") from None
    configure_logging(config.log_level, json_lines=config.json_logs)
    # activate() imports Piccolo's configuration module, which builds an engine of its own from
    # DATABASE_URL (and without it, makes a directory for the default SQLite file).
    os.environ["DATABASE_URL"] = config.database_url
    db.activate(db.make_engine(config.database))
    child = _Child(config)
    with asyncio.Runner() as runner:
        try:
            while (message := _read_message(requests)) is not None:
                reply = runner.run(child.write(message))
                _write_message(replies, _encoder.encode(reply))
        finally:
            runner.run(child.close())


def _read_message(stream: IO[bytes]) -> bytes | None:
    """The next message, or None when the parent closed the pipe."""
    header = stream.read(_LENGTH_BYTES)
    if len(header) < _LENGTH_BYTES:
        return None
    length = int.from_bytes(header, "big")
    message = stream.read(length)
    return message if len(message) == length else None


def _write_message(stream: IO[bytes], message: bytes) -> None:
    stream.write(len(message).to_bytes(_LENGTH_BYTES, "big") + message)
    stream.flush()
