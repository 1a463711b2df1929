"""uvicorn's HTTP/1.1 protocol with the limits it lacks: on slow request heads, idle bodies and
oversized heads.

uvicorn closes a kept-alive connection that stays silent between requests (`timeout_keep_alive`)
and caps connections (`limit_concurrency`), but nothing bounds a client that takes its time over
a request: a head sent a header line every few seconds, or a body that stops half way, holds its
connection (and, for a body, the request's task) for as long as the client likes. A few hundred
such connections from one machine take every connection the server has.

- **Head**: a request's head (request line and headers) must be complete `head_timeout` after its
  first byte, or after the connection opened for a connection's first request. A deadline, not
  an idle timeout: trickling a byte now and then does not extend it. Past it the client gets
  408 and the connection closes; a connection that sent nothing at all is closed without a word,
  as an idle kept-alive one is.
- **Body**: it may pause for `body_idle_timeout` at most between two arrivals, so an upload that
  keeps moving, however slowly, is never cut. Time the server itself holds the body back does
  not count: the application has not read what arrived yet (uvicorn stops reading past 64 KiB),
  or has not asked for the body after `Expect: 100-continue`. Past it, the application sees the
  client leave (`http.disconnect`), and the client gets 408 when nothing of the response was
  sent, else the connection closes.
- **Head size**: a request whose head is still incomplete once `MAX_HEAD_BYTES` of it arrived
  gets 431 and the connection closes. uvicorn's httptools parser sets no limit, and keeps a head
  whole in memory until it is complete.

A timer is armed only when a read leaves a head or a body incomplete: a request that arrives
whole in one read, the common case, costs none.
"""

from __future__ import annotations

import asyncio
import enum
import http
import logging
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from app.settings import ServingConfig

log = logging.getLogger(__name__)

# Far beyond any head this service's clients send (a bearer token and a few headers), and
# bounded: a thousand connections' heads fit in 64 MiB. Counted per read, so a head that completes
# within the read that crosses it still passes.
MAX_HEAD_BYTES = 64 * 1024
# How long a refused client has to read its answer before the connection closes (see `_linger`).
LINGER_S = 2.0


class _Reading(enum.Enum):
    HEAD = "head"  # waiting for a request's head, or in the middle of one
    BODY = "body"  # the head is in; the body is still coming
    NOTHING = "nothing"  # the request is in; the next one has not begun


class SlowClientGuard(HttpToolsProtocol):
    """`HttpToolsProtocol` that times out slow request heads and idle request bodies, and
    refuses oversized heads.

    uvicorn builds one per connection, as `config.http_protocol_class(config=..., ...)`: pass
    `functools.partial(SlowClientGuard, limits=...)` as its `http`.
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: ServingConfig,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._head_timeout = limits.head_timeout
        self._body_idle_timeout = limits.body_idle_timeout
        self._reading = _Reading.HEAD
        self._head_begun = False
        # Bytes read since the last head was complete: the next head's, as far as they go.
        self._head_bytes = 0
        self._body_arrived_at = 0.0
        # One timer at a time: the head's deadline, the body's idle check, or the linger's end.
        self._timer: asyncio.TimerHandle | None = None
        self._lingering = False

    # --- the connection ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # A connection that never sends anything is held to the first head's deadline too.
        self._arm(self._head_timeout, self._head_expired)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # what a refused client still sends goes nowhere
        if self._reading is not _Reading.BODY:
            self._head_bytes += len(data)
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self._reading is _Reading.HEAD and self._head_bytes > MAX_HEAD_BYTES:
            self._refuse_large_head()
        elif self._timer is not None:
            return
        elif self._reading is _Reading.HEAD and self._head_begun:
            self._arm(self._head_timeout, self._head_expired)
        elif self._reading is _Reading.BODY:
            self._arm(self._body_idle_timeout, self._body_idle)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        # The connection is another protocol's from here on.
        self._disarm()
        super().handle_websocket_upgrade()

    # --- the parser's callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading = _Reading.HEAD
        self._head_begun = True

    def on_headers_complete(self) -> None:
        self._disarm()
        self._head_bytes = 0
        self._reading = _Reading.BODY
        self._body_arrived_at = self.loop.time()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._body_arrived_at = self.loop.time()
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        self._reading = _Reading.NOTHING
        self._head_begun = False
        super().on_message_complete()

    # --- the timers ----------------------------------------------------------------------------

    def _arm(self, delay: float, callback: Any) -> None:
        self._timer = self.loop.call_later(delay, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _head_expired(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head behind a request still being answered: the client is not late,
            # the server is. Look again later.
            self._arm(self._head_timeout, self._head_expired)
            return
        if not self._head_begun:
            self.transport.close()  # nothing was asked: nothing to answer
            return
        log.info(
            "request head from %s not complete within %g s: 408, connection closed",
            self._client_address(),
            self._head_timeout,
        )
        self._give_up(408, f"the request head was not complete within {self._head_timeout:g} s")

    def _body_idle(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        now = self.loop.time()
        if self._body_held_back():
            # The server holds the body back, not the client: its idle time starts afresh.
            self._body_arrived_at = now
        idle = now - self._body_arrived_at
        if idle < self._body_idle_timeout:
            self._arm(self._body_idle_timeout - idle, self._body_idle)
            return
        log.info(
            "request body from %s idle for %g s: request abandoned, connection closed",
            self._client_address(),
            self._body_idle_timeout,
        )
        self._give_up(408, f"the request body stopped arriving for {self._body_idle_timeout:g} s")

    def _body_held_back(self) -> bool:
        """The application has not taken what arrived (so uvicorn stopped reading), or has not
        yet asked for the body the client holds until it is told to `100 Continue`."""
        waiting = self.cycle is not None and self.cycle.waiting_for_100_continue
        return self.flow.read_paused or waiting

    def _refuse_large_head(self) -> None:
        log.info(
            "request head from %s over %d bytes: 431, connection closed",
            self._client_address(),
            MAX_HEAD_BYTES,
        )
        self._disarm()
        self._give_up(431, f"the request head is over {MAX_HEAD_BYTES} bytes")

    def _give_up(self, status: int, reason: str) -> None:
        """Close the connection, answering `status` first when the client can take it as the
        answer to the request being read: for a head, when no earlier request is still being
        answered; for a body, when nothing of its response went out. The application sees its
        client leave, and what it still sends is dropped."""
        cycle = self.cycle
        if self._reading is _Reading.HEAD:
            answer = cycle is None or cycle.response_complete
        else:
            answer = cycle is None or not cycle.response_started
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True
            cycle.keep_alive = False
            cycle.message_event.set()
        if answer:
            self.transport.write(self._error_response(status, reason))
        self._linger()

    def _linger(self) -> None:
        """Close once the client has had a moment to read its answer. Closing at once while
        the client still sends (a slow head's next line, the rest of an oversized one) would
        reset the connection, and the answer could be lost with it: the write side closes now
        (the client reads the answer, then the end), what arrives meanwhile is read and dropped,
        and the connection closes when the client closes its side, or after `LINGER_S`."""
        self._disarm()
        self._lingering = True
        self.flow.resume_reading()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._arm(LINGER_S, self.transport.close)

    def _error_response(self, status: int, reason: str) -> bytes:
        body = f"{http.HTTPStatus(status).phrase}: {reason}.\n".encode()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        return b"".join(head) + body

    def _client_address(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
