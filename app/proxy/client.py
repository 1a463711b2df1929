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
import re
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

    `close()` must follow (the proxy does it in `finally`): a fully read response gives its
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
        while True:
            if self._closed:
                # Its connection may already carry someone else's response.
                raise UpstreamError("the response was closed")
            chunk = await self._connection.next_chunk()
            if chunk is None:
                return
            yield chunk

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._client.give_back(self._connection)


class HttpClient:
    """Connections kept per origin, at most `max_connections` open at once (busy or idle).

    A request is sent once. A POST is not safe to repeat (the provider may have started on it,
    and bills it), so a connection that breaks after the request went out is an error for the
    caller, never a silent retry; connections the provider has closed or is closing are
    recognised before use instead.
    """

    def __init__(
        self,
        *,
        max_connections: int,
        connect_timeout: float,
        read_timeout: float,
        idle_timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        user_agent: str = "traylinx-keys",
    ) -> None:
        self._max_connections = max_connections
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        # Providers close idle connections after a while (a minute or more): one idle for
        # longer than this is not reused, so a request does not meet a connection being closed.
        self._idle_timeout = idle_timeout
        self._ssl_context = ssl_context
        self._user_agent = user_agent
        self._connections: set[_Connection] = set()
        self._idle: dict[Origin, list[_Connection]] = {}
        self._slot_waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False

    async def post(
        self, origin: Origin, target: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> UpstreamResponse:
        """Send the request and wait for the response's status and headers."""
        head = self._request_head(origin, target, headers, len(body))
        connection = await self._checkout(origin)
        try:
            connection.send(head, body)
            status, response_headers = await connection.response_head()
        except BaseException:
            self._retire(connection)
            raise
        return UpstreamResponse(self, connection, status, response_headers)

    async def close(self) -> None:
        """Close every connection, busy ones too; requests after this fail."""
        self._closed = True
        for connection in list(self._connections):
            self._retire(connection)
        self._idle.clear()
        while self._slot_waiters:
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_exception(UpstreamError("the client is closed"))

    def give_back(self, connection: _Connection) -> None:
        if connection.reusable and not connection.retired and not self._closed:
            connection.idle_since = time.monotonic()
            self._idle.setdefault(connection.origin, []).append(connection)
            self._wake_slot_waiter()
        else:
            self._retire(connection)

    def lost(self, connection: _Connection) -> None:
        """The provider closed a connection, idle or busy: its slot is free again."""
        idle = self._idle.get(connection.origin)
        if idle and connection in idle:
            idle.remove(connection)
        self._retire(connection)

    def _request_head(
        self, origin: Origin, target: str, headers: Iterable[tuple[str, str]], length: int
    ) -> bytes:
        # A line break or space anywhere in the head would smuggle a header, or a whole
        # request, upstream: the target and names must be plain tokens, values one line.
        if not _TARGET.fullmatch(target):
            raise UpstreamError("the request target holds characters HTTP does not allow")
        lines = [
            f"POST {target} HTTP/1.1",
            f"host: {origin.host_header}",
            f"user-agent: {self._user_agent}",
            f"content-length: {length}",
            "accept-encoding: identity",
        ]
        for name, value in headers:
            if not _TOKEN.fullmatch(name) or _BREAKS.search(value):
                raise UpstreamError("a request header holds a line break or is not a token")
            lines.append(f"{name}: {value}")
        lines.append("\r\n")
        try:
            return "\r\n".join(lines).encode("latin-1")
        except UnicodeEncodeError:
            raise UpstreamError("a request header is not Latin-1 text") from None

    async def _checkout(self, origin: Origin) -> _Connection:
        while True:
            if self._closed:
                raise UpstreamError("the client is closed")
            connection = self._idle_connection(origin)
            if connection is not None:
                return connection
            if len(self._connections) < self._max_connections or self._close_an_idle_one():
                return await self._connect(origin)
            await self._wait_for_slot()

    def _idle_connection(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if connection.open and now - connection.idle_since < self._idle_timeout:
                return connection
            self._retire(connection)
        return None

    def _close_an_idle_one(self) -> bool:
        for idle in self._idle.values():
            if idle:
                self._retire(idle.pop(0), wake=False)
                return True
        return False

    async def _connect(self, origin: Origin) -> _Connection:
        loop = asyncio.get_running_loop()
        connection = _Connection(self, origin, self._read_timeout)
        self._connections.add(connection)  # holds its slot from here on
        tls = origin.scheme == "https"
        try:
            async with asyncio.timeout(self._connect_timeout):
                await loop.create_connection(
                    lambda: connection,
                    origin.host,
                    origin.port,
                    ssl=(self._ssl_context or _default_tls()) if tls else None,
                    server_hostname=origin.host if tls else None,
                )
        except TimeoutError:
            self._retire(connection)
            raise UpstreamTimeout("no connection within the connect timeout") from None
        except OSError as error:
            self._retire(connection)
            raise UpstreamError(f"could not connect: {type(error).__name__}") from None
        except BaseException:
            self._retire(connection)
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

    def _retire(self, connection: _Connection, *, wake: bool = True) -> None:
        if not connection.retired:
            connection.retired = True
            connection.abort()
            self._connections.discard(connection)
            if wake:
                self._wake_slot_waiter()

    def _wake_slot_waiter(self) -> None:
        while self._slot_waiters:
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


# RFC 9110: a field name is a token; an origin-form target is visible ASCII.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TARGET = re.compile(r"/[\x21-\x7e]*")
_BREAKS = re.compile(r"[\r\n\0]")
# Reading pauses while this much of a response waits for a slow client, and resumes below half.
_HIGH_WATER = 256 * 1024
# Bounds on a response head: a broken or hostile upstream cannot make it grow without end.
_MAX_HEAD_BYTES = 64 * 1024
_MAX_HEADERS = 128


_NOT_HTTP = "the response is not valid HTTP/1.1"


class _StopParsing(Exception):
    """Raised from a parser callback: nothing more on this connection is to be trusted."""


class _Connection(asyncio.Protocol):
    """One connection to a provider: it sends a request and parses the response into a buffer
    that `next_chunk()` drains, waking whoever waits when bytes, the end or a failure arrive."""

    _NO_BODY: ClassVar[frozenset[int]] = frozenset({204, 304})

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
        self._paused = False
        self._start_response()

    def _start_response(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._status = 0
        self._headers: list[tuple[str, str]] = []
        self._head_bytes = 0
        self._head_complete = False
        self._complete = False
        self._ends_with_close = False
        self._keep_alive = False
        self._buffer: deque[bytes] = deque()
        self._buffered = 0
        self._error: UpstreamError | None = None
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()

    @property
    def open(self) -> bool:
        """Neither closed nor being closed (the provider's FIN may not have been handled yet)."""
        return not self.closed and self._transport is not None and not self._transport.is_closing()

    @property
    def reusable(self) -> bool:
        return self._complete and self._keep_alive and self.open

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
            self._refuse("bytes after a complete response")
            return
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as error:
            # httptools wraps what a callback raised; its reason is ours to give.
            stop = error.__context__
            self._refuse(str(stop) if isinstance(stop, _StopParsing) else _NOT_HTTP)
            return
        if not self._head_complete:
            self._head_bytes += len(data)
            if self._head_bytes > _MAX_HEAD_BYTES:
                self._refuse("the response head is too large")

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._head_complete and self._ends_with_close and exc is None:
            self._complete = True  # a body without a length ends with the connection
        elif not self._complete:
            self._fail(UpstreamError("the connection closed before the response was complete"))
        self._wake()
        self._client.lost(self)

    def _refuse(self, reason: str) -> None:
        """Keep what arrived complete; fail what did not; never reuse the connection."""
        self._keep_alive = False
        if not self._complete:
            self._fail(UpstreamError(reason))
        self.abort()

    # httptools callbacks

    def on_message_begin(self) -> None:
        if self._complete:
            raise _StopParsing("more than one response to one request")
        self._headers = []

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(self._headers) >= _MAX_HEADERS:
            raise _StopParsing("the response has too many headers")
        self._headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:
            return  # informational (100 Continue): the real response follows
        self._status = status
        self._head_complete = True
        # Asked here: once the message is complete the parser has moved on to the next one.
        self._keep_alive = self._parser.should_keep_alive()
        length = chunked = False
        for name, value in self._headers:
            if name == "content-length":
                length = True
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        self._ends_with_close = not (length or chunked or status in self._NO_BODY)
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
