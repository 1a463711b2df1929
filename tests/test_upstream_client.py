"""The proxy's upstream HTTP/1.1 client against real servers on loopback that misbehave on cue:
kept-alive connections, bodies in every framing, timeouts, the connection limit, TLS, and
requests that must never leave."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.proxy.client import (
    BaseUrl,
    HttpClient,
    Origin,
    UpstreamError,
    UpstreamResponse,
    UpstreamTimeout,
)

JSON = [("content-type", "application/json")]


@dataclass
class Request:
    head: bytes
    body: bytes

    @property
    def lines(self) -> list[str]:
        return self.head.decode("latin-1").split("\r\n")


@dataclass
class Server:
    """Counts connections (in total and at once) and what it received."""

    port: int = 0
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    requests: list[Request] = field(default_factory=list)
    closed_by_client: asyncio.Event = field(default_factory=asyncio.Event)

    def origin(self, scheme: str = "http") -> Origin:
        return Origin(scheme, "127.0.0.1", self.port)


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, Server, int], Awaitable[None]]


@asynccontextmanager
async def serving(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    state = Server()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        state.open_now += 1
        state.most_open = max(state.most_open, state.open_now)
        try:
            await handler(reader, writer, state, state.connections)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client hung up, or the test is over
        finally:
            state.open_now -= 1
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=tls)
    state.port = server.sockets[0].getsockname()[1]
    async with server:
        yield state


async def read_request(reader: asyncio.StreamReader, state: Server) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        state.closed_by_client.set()
        return None
    length = 0
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
    request = Request(head, await reader.readexactly(length))
    state.requests.append(request)
    return request


def response(body: bytes, status: str = "200 OK", extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{extra}"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body


async def keep_alive(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: Server, _: int
) -> None:
    while (request := await read_request(reader, state)) is not None:
        writer.write(response(b'{"echo": %d}' % len(request.body)))
        await writer.drain()


def client(**overrides: float) -> HttpClient:
    settings: dict[str, float] = {"max_connections": 4, "connect_timeout": 2, "read_timeout": 2}
    settings.update(overrides)
    return HttpClient(
        max_connections=int(settings["max_connections"]),
        connect_timeout=settings["connect_timeout"],
        read_timeout=settings["read_timeout"],
    )


async def post(
    http: HttpClient, server: Server, body: bytes = b"{}", headers: list[tuple[str, str]] = JSON
) -> tuple[UpstreamResponse, bytes]:
    answer = await http.post(server.origin(), "/v1/chat/completions?x=1", headers, body)
    try:
        return answer, await answer.read()
    finally:
        answer.close()


async def test_requests_reuse_one_kept_alive_connection_and_say_what_they_carry() -> None:
    async with serving(keep_alive) as server:
        http = client()
        for size in (2, 300, 0):
            answer, body = await post(http, server, b"x" * size, [*JSON, ("x-api-key", "sk-1")])
            assert (answer.status, body, answer.content_type) == (
                200,
                b'{"echo": %d}' % size,
                "application/json",
            )
        await http.close()
    assert server.connections == 1
    first = server.requests[0]
    assert first.lines[0] == "POST /v1/chat/completions?x=1 HTTP/1.1"
    assert f"host: 127.0.0.1:{server.port}" in first.lines
    assert {"content-length: 2", "accept-encoding: identity", "x-api-key: sk-1"} <= set(first.lines)
    assert first.body == b"xx"


async def test_a_connection_idle_past_the_idle_timeout_is_not_reused() -> None:
    async with serving(keep_alive) as server:
        http = HttpClient(max_connections=2, connect_timeout=2, read_timeout=2, idle_timeout=0.05)
        await post(http, server)
        await asyncio.sleep(0.1)
        await post(http, server)
        await http.close()
    assert server.connections == 2


async def test_a_connection_the_provider_closed_while_idle_is_not_used() -> None:
    async def closes_after_each_answer(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: Server, _: int
    ) -> None:
        await read_request(reader, state)
        writer.write(response(b"once"))  # kept alive as far as the headers say
        await writer.drain()

    async with serving(closes_after_each_answer) as server:
        http = client()
        assert (await post(http, server))[1] == b"once"
        await asyncio.sleep(0.05)
        assert (await post(http, server))[1] == b"once"
        await http.close()
    assert (server.connections, len(server.requests)) == (2, 2)


async def test_a_post_whose_kept_alive_connection_breaks_is_never_sent_again() -> None:
    async def drops_the_second_request(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: Server, number: int
    ) -> None:
        await read_request(reader, state)
        writer.write(response(b"first"))
        await writer.drain()
        await read_request(reader, state)  # the provider may be working on it: then it hangs up

    async with serving(drops_the_second_request) as server:
        http = client()
        assert (await post(http, server))[1] == b"first"
        with pytest.raises(UpstreamError, match="closed before the response was complete"):
            await post(http, server, b"billed")
        await http.close()
    assert [r.body for r in server.requests] == [b"{}", b"billed"]


async def test_a_new_connection_closed_early_or_mid_answer_is_an_error_not_a_retry() -> None:
    async def hangs_up(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: Server, number: int
    ) -> None:
        await read_request(reader, state)
        if number == 2:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf")
            await writer.drain()

    async with serving(hangs_up) as server:
        http = client()
        with pytest.raises(UpstreamError, match="closed before the response was complete"):
            await post(http, server)
        with pytest.raises(UpstreamError, match="closed before the response was complete"):
            await post(http, server)
        await http.close()
    assert server.connections == 2


async def test_chunked_close_delimited_and_informational_answers() -> None:
    async def framings(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: Server, number: int
    ) -> None:
        await read_request(reader, state)
        if number == 1:
            writer.write(
                b"HTTP/1.1 100 Continue\r\n\r\n"
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"transfer-encoding: chunked\r\nx-ratelimit-remaining: 9\r\n"
                b"x-ratelimit-remaining: 8\r\n\r\n"
            )
            for part in (b"data: 1\n\n", b"data: 2\n\n"):
                writer.write(b"%x\r\n%s\r\n" % (len(part), part))
                await writer.drain()
                await asyncio.sleep(0.01)
            writer.write(b"0\r\n\r\n")
            await keep_alive(reader, writer, state, number)
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end")
            await writer.drain()

    async with serving(framings) as server:
        http = client()
        streamed = await http.post(server.origin(), "/", JSON, b"{}")
        assert streamed.content_type == "text/event-stream"
        assert [v for n, v in streamed.headers if n == "x-ratelimit-remaining"] == ["9", "8"]
        assert [chunk async for chunk in streamed.chunks()] == [b"data: 1\n\n", b"data: 2\n\n"]
        streamed.close()
        assert (await post(http, server))[1] == b'{"echo": 2}'  # the same connection again
        assert server.connections == 1
        await asyncio.sleep(0)
        # A second connection is needed while the first is busy: it answers until it closes.
        busy = await http.post(server.origin(), "/", JSON, b"{}")
        try:
            whole = await post(http, server)
        finally:
            busy.close()
        assert whole[1] == b"until the end"
        await http.close()


async def test_silence_longer_than_the_read_timeout_is_a_timeout() -> None:
    async def stalls(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: Server, number: int
    ) -> None:
        await read_request(reader, state)
        if number == 2:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nslow")
            await writer.drain()
        await asyncio.sleep(5)

    async with serving(stalls) as server:
        http = client(read_timeout=0.2)
        with pytest.raises(UpstreamTimeout):
            await post(http, server)  # no status line
        answer = await http.post(server.origin(), "/", JSON, b"{}")
        with pytest.raises(UpstreamTimeout):
            await answer.read()  # the body stops half-way
        answer.close()
        await http.close()


async def test_a_refused_connection_is_an_error() -> None:
    async with serving(keep_alive) as server:
        port = server.port
    with pytest.raises(UpstreamError, match="could not connect: ConnectionRefusedError"):
        await client().post(Origin("http", "127.0.0.1", port), "/", JSON, b"{}")


@pytest.mark.parametrize(
    ("target", "header"),
    [
        ("/", ("x-api-key", "sk-1\r\nx-evil: 1")),
        ("/", ("x-api-key", "sk\n")),
        ("/", ("x\r\ny", "1")),
        ("/", ("a b", "1")),
        ("/", ("a", "\0")),
        ("/v1?a=1\r\nPOST /admin HTTP/1.1", ("a", "1")),
        ("/v1?a b", ("a", "1")),
        ("v1", ("a", "1")),
    ],
)
async def test_a_head_that_would_smuggle_anything_sends_nothing(
    target: str, header: tuple[str, str]
) -> None:
    async with serving(keep_alive) as server:
        with pytest.raises(UpstreamError, match=r"line break|not a token|not allow"):
            await client().post(server.origin(), target, [header], b"{}")
    assert server.connections == 0


async def test_at_most_max_connections_are_open_and_waiting_requests_get_their_turn() -> None:
    async def slow(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: Server, _: int
    ) -> None:
        while await read_request(reader, state) is not None:
            await asyncio.sleep(0.05)
            writer.write(response(b"ok"))

    async with serving(slow) as server:
        http = client(max_connections=2)
        answers = await asyncio.gather(*(post(http, server) for _ in range(6)))
        await http.close()
    assert [body for _, body in answers] == [b"ok"] * 6
    assert server.most_open == 2


async def test_an_abandoned_or_cancelled_response_closes_its_connection() -> None:
    async def streams_forever(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: Server, number: int
    ) -> None:
        await read_request(reader, state)
        if number == 1:
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n")
            await writer.drain()
            # The client hanging up is what tells a provider to stop generating.
            assert await reader.read() == b""
            state.closed_by_client.set()
        elif number == 2:
            await asyncio.sleep(5)  # never answers: its caller gets cancelled
        else:
            writer.write(response(b"fresh"))
            await writer.drain()

    async with serving(streams_forever) as server:
        http = client(max_connections=1)
        streamed = await http.post(server.origin(), "/", JSON, b"{}")
        assert await anext(streamed.chunks()) == b"hello"
        streamed.close()
        await asyncio.wait_for(server.closed_by_client.wait(), 2)
        waiting = asyncio.ensure_future(post(http, server))
        await asyncio.sleep(0.1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert (await asyncio.wait_for(post(http, server), 2))[1] == b"fresh"
        await http.close()
    assert server.connections == 3


@pytest.mark.parametrize(
    "extra",
    [b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nmore", b"junk"],
)
async def test_bytes_after_a_complete_answer_retire_the_connection(extra: bytes) -> None:
    async def chatty(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: Server, _: int
    ) -> None:
        while await read_request(reader, state) is not None:
            writer.write(response(b"ok") + extra)  # one packet: a second answer rides along
            await writer.drain()

    async with serving(chatty) as server:
        http = client()
        assert (await post(http, server))[1] == b"ok"
        await asyncio.sleep(0.05)
        assert (await post(http, server))[1] == b"ok"
        await http.close()
    assert server.connections == 2


async def test_a_complete_answer_left_unread_does_not_stall_the_next_request() -> None:
    async def large(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: Server, _: int
    ) -> None:
        while await read_request(reader, state) is not None:
            writer.write(response(b"x" * 600_000))  # over the buffer's high-water mark
            await writer.drain()

    async with serving(large) as server:
        http = client(read_timeout=1)
        unread = await http.post(server.origin(), "/", JSON, b"{}")
        await asyncio.sleep(0.2)  # all of it arrives while nobody reads
        unread.close()
        _, body = await post(http, server)
        assert len(body) == 600_000
        with pytest.raises(UpstreamError, match="closed"):
            await unread.read()
        await http.close()


async def test_a_busy_connection_the_provider_drops_frees_its_slot() -> None:
    async def drops_mid_body(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: Server, number: int
    ) -> None:
        await read_request(reader, state)
        if number == 1:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npart")
            await writer.drain()
            return
        writer.write(response(b"second"))
        await writer.drain()

    async with serving(drops_mid_body) as server:
        http = client(max_connections=1)
        await http.post(server.origin(), "/", JSON, b"{}")  # never read nor closed
        await asyncio.sleep(0.05)
        assert (await asyncio.wait_for(post(http, server), 2))[1] == b"second"
        await http.close()


async def test_closing_the_client_closes_busy_connections_and_refuses_new_requests() -> None:
    async with serving(keep_alive) as server:
        http = client(max_connections=1)
        busy = await http.post(server.origin(), "/", JSON, b"{}")
        waiting = asyncio.ensure_future(post(http, server))
        await asyncio.sleep(0.05)
        await http.close()
        with pytest.raises(UpstreamError, match="closed"):
            await waiting
        busy.close()
        with pytest.raises(UpstreamError, match="closed"):
            await post(http, server)
        async with asyncio.timeout(5):  # the server sees each close a few turns later
            while server.open_now:  # noqa: ASYNC110
                await asyncio.sleep(0.01)


async def test_oversized_or_endless_response_heads_are_refused() -> None:
    async def hostile(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: Server, number: int
    ) -> None:
        await read_request(reader, state)
        writer.write(b"HTTP/1.1 200 OK\r\n")
        if number == 1:
            writer.write(b"".join(b"x-%d: 1\r\n" % n for n in range(1000)))
        else:
            writer.write(b"x-huge: ")
            for _ in range(100):
                writer.write(b"a" * 10_000)
                await writer.drain()
        await writer.drain()
        await asyncio.sleep(1)

    async with serving(hostile) as server:
        http = client()
        with pytest.raises(UpstreamError, match="too many headers"):
            await post(http, server)
        with pytest.raises(UpstreamError, match="head is too large"):
            await post(http, server)
        await http.close()


async def test_odd_framings_end_as_http_says() -> None:
    async def framings(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: Server, number: int
    ) -> None:
        await read_request(reader, state)
        if number == 1:  # read until close, then a reset instead of a close
            writer.write(b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{"a": [tr')
            await writer.drain()
            await asyncio.sleep(0.05)
            # Closing with lingering off sends a reset, not an orderly end.
            linger_off = struct.pack("ii", 1, 0)
            writer.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, linger_off
            )
            writer.transport.abort()
        elif number == 2:
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n")
            await writer.drain()
            await asyncio.sleep(1)
        else:
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: identity\r\n\r\nuntil close")
            await writer.drain()

    async with serving(framings) as server:
        http = client()
        with pytest.raises(UpstreamError, match="closed before the response was complete"):
            await post(http, server)
        with pytest.raises(UpstreamError, match="not valid HTTP"):
            await post(http, server)
        assert (await post(http, server))[1] == b"until close"
        await http.close()


async def test_large_bodies_both_ways_arrive_whole_through_flow_control() -> None:
    payload = bytes(range(256)) * 16 * 1024  # 4 MiB

    async def big(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: Server, _: int
    ) -> None:
        request = await read_request(reader, state)
        assert request is not None
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for start in range(0, len(payload), 100_000):
            part = payload[start : start + 100_000]
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async with serving(big) as server:
        http = client()
        streamed = await http.post(server.origin(), "/", JSON, payload[:1_500_000])
        received = bytearray()
        async for chunk in streamed.chunks():
            received += chunk
            await asyncio.sleep(0)  # a consumer slower than loopback
        streamed.close()
        await http.close()
    assert bytes(received) == payload
    assert server.requests[0].body == payload[:1_500_000]


def _self_signed(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context for 127.0.0.1 and a client context that trusts only its certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "upstream.test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_path, key_path)
    trusting = ssl.create_default_context(cafile=str(cert_path))
    return server, trusting


async def test_https_verifies_the_certificate(tmp_path: Path) -> None:
    server_tls, trusting = _self_signed(tmp_path)
    async with serving(keep_alive, tls=server_tls) as server:
        trusted = HttpClient(
            max_connections=2, connect_timeout=2, read_timeout=2, ssl_context=trusting
        )
        answer = await trusted.post(server.origin("https"), "/", JSON, b"{}")
        assert (answer.status, await answer.read()) == (200, b'{"echo": 2}')
        answer.close()
        await trusted.close()
        # The system's trust store does not know this certificate: no request is sent.
        with pytest.raises(UpstreamError, match="could not connect"):
            await client().post(server.origin("https"), "/", JSON, b"{}")
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("url", "origin", "path"),
    [
        ("https://api.openai.com/v1", Origin("https", "api.openai.com", 443), "/v1"),
        ("http://127.0.0.1:8080/", Origin("http", "127.0.0.1", 8080), ""),
        ("http://[::1]:81/base/", Origin("http", "::1", 81), "/base"),
    ],
)
def test_base_urls(url: str, origin: Origin, path: str) -> None:
    assert BaseUrl.parse(url) == BaseUrl(origin, path)


def test_host_headers() -> None:
    assert Origin("https", "api.anthropic.com", 443).host_header == "api.anthropic.com"
    assert Origin("http", "::1", 81).host_header == "[::1]:81"
