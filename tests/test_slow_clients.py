"""Slow clients: request heads and bodies that take too long, and the cap on connections.

Real sockets against a real uvicorn on loopback, configured as `python -m app serve` configures
it (`app.serving.server_options`), with timeouts of a second so that the tests stay short. What
the protocol does alone is tested with a small ASGI app (once); what GraphQL and the proxy see,
with the service itself (on both engines).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from litestar import Litestar

from app.serving import server_options
from app.settings import Settings
from app.slow_clients import LINGER_S
from tests.conftest import TEST_ENV, Proxy
from tests.fake_provider import FakeProvider
from tests.helpers import create_key, create_project, sign_up

HEAD_TIMEOUT_S = 1.0
BODY_IDLE_TIMEOUT_S = 1.0
# The machine may be busy: how late past a timeout a connection may still be cut.
LATE_S = 3.0
QUERY = b'{"query":"{ __typename }"}'
TYPENAME = b'{"data":{"__typename":"Query"}}'


@pytest.fixture
def plain_settings(tmp_path: Path) -> Settings:
    """Settings for a server whose app needs no database."""
    return Settings.from_env({**TEST_ENV, "TRAYLINX_VAR_DIR": str(tmp_path)})


async def body_size(scope: Any, receive: Any, send: Any) -> None:
    """An ASGI app answering with the size of the body it read; it starts reading only after
    the seconds its `x-read-after` header asks for."""
    await asyncio.sleep(float(dict(scope["headers"]).get(b"x-read-after", b"0")))
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    answer = str(size).encode()
    headers = [(b"content-length", str(len(answer)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


@contextlib.asynccontextmanager
async def guarded_server(application: Any, settings: Settings, **limits: Any) -> AsyncIterator[int]:
    """Serve an already started app as `serve` would, with short timeouts; yields the port."""
    serving = replace(
        settings.serving,
        head_timeout=HEAD_TIMEOUT_S,
        body_idle_timeout=BODY_IDLE_TIMEOUT_S,
        **limits,
    )
    options = {
        **server_options(replace(settings, serving=serving)),
        "log_level": "warning",
        # A test that fails leaves requests hanging: stop anyway.
        "timeout_graceful_shutdown": 1,
    }
    server = uvicorn.Server(
        uvicorn.Config(application, host="127.0.0.1", port=0, lifespan="off", **options)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await task


class Connection:
    """One raw client connection, with what the server sent on it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    @contextlib.asynccontextmanager
    async def to(cls, port: int) -> AsyncIterator[Connection]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            yield cls(reader, writer)
        finally:
            writer.close()

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def until_closed(self) -> bytes:
        """Everything the server sends until it closes the connection."""
        received = b""
        async with asyncio.timeout(15):
            while True:
                try:
                    chunk = await self.reader.read(65536)
                except ConnectionError:  # closed while the client was still sending
                    return received
                if not chunk:
                    return received
                received += chunk

    async def response(self) -> tuple[int, bytes]:
        """The next response's status and body (a Content-Length one)."""
        async with asyncio.timeout(15):
            head = await self.reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            length = next(
                int(line.split(":", 1)[1])
                for line in lines
                if line.lower().startswith("content-length:")
            )
            return int(lines[0].split()[1]), await self.reader.readexactly(length)


def _post(path: str, length: int, *headers: bytes) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1".encode(),
        b"Host: test",
        b"Content-Type: application/json",
        b"Content-Length: %d" % length,
        *headers,
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


# --- heads --------------------------------------------------------------------------------------


async def test_a_head_sent_a_line_at_a_time_is_cut_at_the_head_timeout(
    plain_settings: Settings,
) -> None:
    async with (
        guarded_server(body_size, plain_settings) as port,
        Connection.to(port) as connection,
    ):
        started = time.monotonic()
        await connection.send(b"POST /graphql HTTP/1.1\r\nHost: test\r\n")

        async def trickle() -> None:
            # Never idle for long: only a deadline on the whole head stops this.
            with contextlib.suppress(ConnectionError):
                for index in range(100):
                    await asyncio.sleep(0.2)
                    await connection.send(b"X-Slow-%d: 1\r\n" % index)

        trickling = asyncio.create_task(trickle())
        answer = await connection.until_closed()
        elapsed = time.monotonic() - started
        trickling.cancel()

    assert _status(answer) == 408
    assert b"request head was not complete within 1 s" in answer
    assert HEAD_TIMEOUT_S - 0.1 <= elapsed < HEAD_TIMEOUT_S + LATE_S


async def test_a_connection_that_sends_nothing_is_closed_without_an_answer(
    plain_settings: Settings,
) -> None:
    async with (
        guarded_server(body_size, plain_settings) as port,
        Connection.to(port) as connection,
    ):
        started = time.monotonic()
        answer = await connection.until_closed()
        elapsed = time.monotonic() - started

    assert answer == b""
    assert HEAD_TIMEOUT_S - 0.1 <= elapsed < HEAD_TIMEOUT_S + LATE_S


async def test_the_head_deadline_starts_again_with_each_request_on_a_connection(
    plain_settings: Settings,
) -> None:
    async with (
        guarded_server(body_size, plain_settings) as port,
        Connection.to(port) as connection,
    ):
        answers = []
        for _ in range(3):
            # Together longer than one head timeout, each well within it.
            await asyncio.sleep(HEAD_TIMEOUT_S / 2)
            await connection.send(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            answers.append(await connection.response())

    assert answers == [(200, b"0")] * 3


async def test_a_head_still_incomplete_past_64_kib_gets_431(plain_settings: Settings) -> None:
    """However much the client goes on sending: it reads its answer, and is hung up on soon."""
    async with (
        guarded_server(body_size, plain_settings) as port,
        Connection.to(port) as connection,
    ):
        await connection.send(b"GET / HTTP/1.1\r\nHost: test\r\n")

        async def pile_on() -> float:
            started = time.monotonic()
            with contextlib.suppress(ConnectionError):
                for index in range(2000):  # 10 KiB a read, until the server hangs up
                    await connection.send(b"X-Big-%d: %s\r\n" % (index, b"a" * 10_240))
                    await asyncio.sleep(0.01)
            return time.monotonic() - started

        piling = asyncio.create_task(pile_on())
        answer = await connection.until_closed()
        sent_for = await piling

    assert _status(answer) == 431
    assert b"request head is over 65536 bytes" in answer
    # The server read on (and dropped) what came after its answer for a while, then hung up.
    assert LINGER_S - 0.5 < sent_for < LINGER_S + LATE_S


async def test_a_large_head_within_the_limit_is_served(plain_settings: Settings) -> None:
    headers = b"".join(b"X-Big-%d: %s\r\n" % (index, b"a" * 10_240) for index in range(4))
    async with (
        guarded_server(body_size, plain_settings) as port,
        Connection.to(port) as connection,
    ):
        await connection.send(b"GET / HTTP/1.1\r\nHost: test\r\n" + headers + b"\r\n")
        answer = await connection.response()

    assert answer == (200, b"0")


# --- bodies -------------------------------------------------------------------------------------


async def test_an_idle_graphql_body_gets_408(
    app: Litestar, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async with guarded_server(app, settings) as port, Connection.to(port) as connection:
        await connection.send(_post("/graphql", len(QUERY)) + QUERY[:10])
        started = time.monotonic()
        answer = await connection.until_closed()
        elapsed = time.monotonic() - started

    assert _status(answer) == 408
    assert answer.count(b"HTTP/1.1 ") == 1  # the application's own answer went nowhere
    assert b"request body stopped arriving for 1 s" in answer
    assert BODY_IDLE_TIMEOUT_S - 0.1 <= elapsed < BODY_IDLE_TIMEOUT_S + LATE_S
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_a_slow_upload_that_keeps_moving_is_not_cut(
    app: Litestar, settings: Settings
) -> None:
    body = QUERY[:-1] + b" " * 24 + b"}"
    async with guarded_server(app, settings) as port, Connection.to(port) as connection:
        await connection.send(_post("/graphql", len(body)))
        started = time.monotonic()
        for start in range(0, len(body), 5):
            await asyncio.sleep(BODY_IDLE_TIMEOUT_S * 0.4)
            await connection.send(body[start : start + 5])
        elapsed = time.monotonic() - started
        status, answer = await connection.response()

    assert elapsed > BODY_IDLE_TIMEOUT_S + HEAD_TIMEOUT_S  # longer than either timeout
    assert (status, answer) == (200, TYPENAME)


async def test_a_body_the_client_holds_until_asked_is_not_timed_meanwhile(
    plain_settings: Settings,
) -> None:
    """With `Expect: 100-continue` the client waits until the application reads the body: it
    is right to wait, however long that takes."""
    late = f"x-read-after: {BODY_IDLE_TIMEOUT_S * 1.5}".encode()
    async with (
        guarded_server(body_size, plain_settings) as port,
        Connection.to(port) as connection,
    ):
        await connection.send(_post("/", len(QUERY), b"Expect: 100-continue", late))
        interim = await asyncio.wait_for(connection.reader.readuntil(b"\r\n\r\n"), 15)
        await connection.send(QUERY)
        answer = await connection.response()

    assert interim.startswith(b"HTTP/1.1 100 ")
    assert answer == (200, str(len(QUERY)).encode())


async def test_a_body_the_server_stopped_reading_is_not_timed_meanwhile(
    plain_settings: Settings,
) -> None:
    """Past 64 KiB that the application has not taken, uvicorn stops reading: the client cannot
    send, and is not to blame."""
    body = b"x" * (512 * 1024)
    late = f"x-read-after: {BODY_IDLE_TIMEOUT_S * 1.5}".encode()
    async with (
        guarded_server(body_size, plain_settings) as port,
        Connection.to(port) as connection,
    ):
        sending = asyncio.create_task(connection.send(_post("/", len(body), late) + body))
        answer = await connection.response()
        await sending

    assert answer == (200, str(len(body)).encode())


async def test_a_stalled_proxy_body_is_cut_and_nothing_reaches_the_provider(
    proxy: Proxy, settings: Settings, fake_provider: FakeProvider
) -> None:
    owner = await sign_up(proxy.gql)
    project = await create_project(proxy.gql, owner)
    key = await create_key(proxy.gql, owner, project["id"])
    body = b'{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}]}'
    async with guarded_server(proxy.app, settings) as port, Connection.to(port) as connection:
        bearer = f"Authorization: Bearer {key['secret']}".encode()
        head = _post("/v1/chat/completions", len(body), bearer)
        await connection.send(head + body[:20])
        answer = await connection.until_closed()

    assert _status(answer) == 408
    assert fake_provider.received == []


# --- the connection cap -------------------------------------------------------------------------


async def test_requests_past_the_connection_cap_are_refused_with_503(
    plain_settings: Settings,
) -> None:
    request = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"
    async with (
        guarded_server(body_size, plain_settings, max_connections=2) as port,
        contextlib.AsyncExitStack() as held,
    ):
        first = await held.enter_async_context(Connection.to(port))
        second = await held.enter_async_context(Connection.to(port))
        served = []
        for connection in (first, second):
            await connection.send(request)
            served.append(await connection.response())

        async with Connection.to(port) as extra:
            await extra.send(request)
            refused = await extra.until_closed()

        first.writer.close()
        after_one_left = await _first_status_within(port, request, seconds=5)

    assert served == [(200, b"0"), (200, b"0")]
    assert _status(refused) == 503
    assert after_one_left == 200


async def _first_status_within(port: int, request: bytes, *, seconds: float) -> int:
    """Ask on fresh connections until one is served (the server notices a closed connection a
    moment after it closed); the last status when none is."""
    deadline = time.monotonic() + seconds
    status = 0
    while time.monotonic() < deadline:
        async with Connection.to(port) as connection:
            await connection.send(request)
            status, _ = await connection.response()
        if status == 200:
            return status
        await asyncio.sleep(0.05)
    return status
