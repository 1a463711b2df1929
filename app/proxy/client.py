"""A small HTTP/1.1 client for the provider APIs: kept-alive connections per origin, response
bodies handed over as they arrive, a timeout on connecting and on every silence while reading.

The proxy needs little from a client: POST a body it already holds and relay what comes back,
byte for byte. A general-purpose client spends most of a proxied request's client-side time on
what this use does not need (request building and tracing hooks, cookie and redirect handling,
decompression, multidict headers); here the response is parsed by llhttp (httptools, the parser
uvicorn serves with) straight into a buffer the relay drains.

What it deliberately does not do: follow redirects (a provider's 3xx goes back to the caller, the
secret does not travel to another host), keep cookies (connections are shared by every project),
decompress (bodies pass through untouched), use environment proxies, or speak HTTP/2.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import ClassVar, cast
from urllib.parse import urlsplit

import httptools


class UpstreamError(Exception):
    """The provider was unreachable, closed the connection early or answered with broken HTTP."""


class UpstreamTimeout(UpstreamError):
    """No connection within the connect timeout, or no byte within the read timeout."""


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class BaseUrl:
    """Where a provider's API lives: its origin and the path its endpoints hang under."""

    origin: Origin
    path: str

    @classmethod
    def parse(cls, url: str) -> BaseUrl:
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError("an upstream base URL needs http:// or https:// and a host")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("an upstream base URL has no query, fragment or credentials")
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
        return cls(Origin(parts.scheme, parts.hostname, port), parts.path.rstrip("/"))


class UpstreamResponse:
    """Status and headers as soon as they arrive; the body through `read()` or `chunks()`.

    `close()` must follow (the relays do it in `finally`): a fully read response gives its
    connection back for reuse, anything else closes it, which also tells the provider to stop.
    """

    __slots__ = ("_client", "_closed", "_connection", "headers", "status")

    def __init__(
        self,
        client: HttpClient,
        connection: _Connection,
        status: int,
        headers: list[tuple[str, str]],
    ) -> None:
        self._client = client
        self._connection = connection
        self._closed = False
        self.status = status
        # Lower-cased names, in the order received; repeated headers stay repeated.
        self.headers = headers

    @property
    def content_type(self) -> str:
        for name, value in self.headers:
            if name == "content-type":
                return value.partition(";")[0].strip().lower()
        return ""

    async def read(self) -> bytes:
        chunks = [chunk async for chunk in self.chunks()]
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def chunks(self) -> AsyncIterator[bytes]:
        while (chunk := await self._connection.next_chunk()) is not None:
            yield chunk

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._client.give_back(self._connection)


class HttpClient:
    """Connections kept per origin, at most `max_connections` open at once (busy or idle)."""

    def __init__(
        self,
        *,
        max_connections: int,
        connect_timeout: float,
        read_timeout: float,
        idle_timeout: float = 60.0,
        ssl_context: ssl.SSLContext | None = None,
        user_agent: str = "traylinx-keys",
    ) -> None:
        self._max_connections = max_connections
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        # Providers close idle connections after a while; reusing one they are closing fails.
        self._idle_timeout = idle_timeout
        self._ssl_context = ssl_context
        self._user_agent = user_agent
        self._idle: dict[Origin, list[_Connection]] = {}
        self._open = 0
        self._slot_waiters: deque[asyncio.Future[None]] = deque()

    async def post(
        self, origin: Origin, target: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> UpstreamResponse:
        """Send the request and wait for the response's status and headers.

        A kept-alive connection the provider closed in the meantime fails before any byte of a
        response arrives: the request is then sent once more on a new connection.
        """
        head = self._request_head(origin, target, headers, len(body))
        while True:
            connection, reused = await self._checkout(origin)
            connection.send(head, body)
            try:
                status, response_headers = await connection.response_head()
            except UpstreamError as error:
                self._retire(connection)
                if reused and not connection.answered and not isinstance(error, UpstreamTimeout):
                    continue
                raise
            except BaseException:
                self._retire(connection)
                raise
            return UpstreamResponse(self, connection, status, response_headers)

    async def close(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.abort()
        self._idle.clear()

    def give_back(self, connection: _Connection) -> None:
        if connection.reusable:
            connection.idle_since = time.monotonic()
            self._idle.setdefault(connection.origin, []).append(connection)
            self._wake_slot_waiter()
        else:
            self._retire(connection)

    def forget(self, connection: _Connection) -> None:
        """An idle connection the provider closed."""
        idle = self._idle.get(connection.origin)
        if idle and connection in idle:
            idle.remove(connection)
            self._retire(connection)

    def _request_head(
        self, origin: Origin, target: str, headers: Iterable[tuple[str, str]], length: int
    ) -> bytes:
        lines = [
            f"POST {target} HTTP/1.1",
            f"host: {origin.host_header}",
            f"user-agent: {self._user_agent}",
            f"content-length: {length}",
            "accept-encoding: identity",
        ]
        for name, value in headers:
            # A line break in a value would smuggle a header, or a whole request, upstream.
            if _BREAKS.isdisjoint(value) and _BREAKS.isdisjoint(name):
                lines.append(f"{name}: {value}")
            else:
                raise UpstreamError("a request header holds a line break")
        lines.append("\r\n")
        try:
            return "\r\n".join(lines).encode("latin-1")
        except UnicodeEncodeError:
            raise UpstreamError("a request header is not Latin-1 text") from None

    async def _checkout(self, origin: Origin) -> tuple[_Connection, bool]:
        while True:
            connection = self._idle_connection(origin)
            if connection is not None:
                return connection, True
            if self._open < self._max_connections or self._close_an_idle_connection():
                return await self._connect(origin), False
            await self._wait_for_slot()

    def _idle_connection(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < self._idle_timeout:
                return connection
            self._retire(connection)
        return None

    def _close_an_idle_connection(self) -> bool:
        for idle in self._idle.values():
            if idle:
                self._retire(idle.pop(0))
                return True
        return False

    async def _connect(self, origin: Origin) -> _Connection:
        self._open += 1
        loop = asyncio.get_running_loop()
        tls = origin.scheme == "https"
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(self, origin, self._read_timeout),
                    origin.host,
                    origin.port,
                    ssl=(self._ssl_context or _default_tls()) if tls else None,
                    server_hostname=origin.host if tls else None,
                )
        except TimeoutError:
            self._release_slot()
            raise UpstreamTimeout("no connection within the connect timeout") from None
        except OSError as error:
            self._release_slot()
            raise UpstreamError(f"could not connect: {type(error).__name__}") from None
        except BaseException:
            self._release_slot()
            raise
        return connection

    async def _wait_for_slot(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._slot_waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter in self._slot_waiters:
                self._slot_waiters.remove(waiter)
            elif waiter.done() and not waiter.cancelled():
                self._wake_slot_waiter()  # woken and cancelled at once: pass the turn on
            raise

    def _retire(self, connection: _Connection) -> None:
        if not connection.retired:
            connection.retired = True
            connection.abort()
            self._release_slot()

    def _release_slot(self) -> None:
        self._open -= 1
        self._wake_slot_waiter()

    def _wake_slot_waiter(self) -> None:
        while self._slot_waiters:
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


_BREAKS = frozenset("\r\n\0")
# Reading pauses while this much of a response waits for a slow client, and resumes below half.
_HIGH_WATER = 256 * 1024


class _Connection(asyncio.Protocol):
    """One connection to a provider: it sends a request and parses the response into a buffer
    that `next_chunk()` drains, waking whoever waits when bytes, the end or a failure arrive."""

    _UNTIL_CLOSE_EXEMPT: ClassVar[frozenset[int]] = frozenset({204, 304})

    def __init__(self, client: HttpClient, origin: Origin, read_timeout: float) -> None:
        self.origin = origin
        self.closed = False
        self.retired = False
        self.idle_since = 0.0
        self._client = client
        self._read_timeout = read_timeout
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._start_response()

    def _start_response(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._status = 0
        self._headers: list[tuple[str, str]] = []
        self._head_complete = False
        self._complete = False
        self._ends_with_close = False
        self._keep_alive = False
        self._buffer: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._error: UpstreamError | None = None
        self.answered = False

    @property
    def reusable(self) -> bool:
        return self._complete and self._keep_alive and not self.closed

    def send(self, head: bytes, body: bytes) -> None:
        self._start_response()
        assert self._transport is not None
        if len(body) < 65536:
            self._transport.write(head + body)
        else:
            self._transport.write(head)
            self._transport.write(body)

    async def response_head(self) -> tuple[int, list[tuple[str, str]]]:
        while not self._head_complete:
            if self._error is not None:
                raise self._error
            await self._wait()
        return self._status, self._headers

    async def next_chunk(self) -> bytes | None:
        """The next piece of the body as it arrived, or None at its end."""
        while True:
            if self._buffer:
                chunk = self._buffer.popleft()
                self._buffered -= len(chunk)
                if self._paused and self._buffered < _HIGH_WATER // 2 and self._transport:
                    self._paused = False
                    self._transport.resume_reading()
                return chunk
            if self._complete:
                return None
            if self._error is not None:
                raise self._error
            await self._wait()

    def abort(self) -> None:
        if self._transport is not None and not self.closed:
            self._transport.abort()

    async def _wait(self) -> None:
        waiter = self._waiter = self._loop.create_future()
        timer = self._loop.call_later(self._read_timeout, self._time_out)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, error: UpstreamError) -> None:
        if self._error is None:
            self._error = error
        self._wake()

    def _time_out(self) -> None:
        self._fail(UpstreamTimeout("no response byte within the read timeout"))
        self.abort()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._complete:
            self.abort()  # bytes after a complete response: nothing sane can follow on this one
            return
        self.answered = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail(UpstreamError("the response is not valid HTTP/1.1"))
            self.abort()

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._head_complete and self._ends_with_close:
            self._complete = True
        elif not self._complete:
            self._fail(UpstreamError("the connection closed before the response was complete"))
        self._wake()
        self._client.forget(self)

    # httptools callbacks

    def on_message_begin(self) -> None:
        if self._complete:
            self._keep_alive = False  # more than the one answer asked for: do not reuse
        self._headers = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:
            return  # informational (100 Continue): the real response follows
        self._status = status
        self._head_complete = True
        # Asked here: once the message is complete the parser has moved on to the next one.
        self._keep_alive = self._parser.should_keep_alive()
        names = {name for name, _ in self._headers}
        self._ends_with_close = (
            "content-length" not in names
            and "transfer-encoding" not in names
            and status not in self._UNTIL_CLOSE_EXEMPT
        )
        self._wake()

    def on_body(self, body: bytes) -> None:
        self._buffer.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._head_complete:
            self._complete = True
            self._wake()


def _default_tls() -> ssl.SSLContext:
    global _TLS
    if _TLS is None:
        _TLS = ssl.create_default_context()
    return _TLS


_TLS: ssl.SSLContext | None = None
