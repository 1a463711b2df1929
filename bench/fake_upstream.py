"""A fake OpenAI-compatible upstream for the proxy scenario, as cheap as an HTTP server gets.

So that the proxy is what a benchmark measures, this is a bare `asyncio.Protocol` (on uvloop when
installed) that speaks just enough HTTP/1.1: keep-alive, pipelined requests, bodies framed by
Content-Length across any number of TCP reads, and responses built once at start.

- `POST /v1/chat/completions` answers a fixed `chat.completion` with a `usage` object and
  OpenAI's rate-limit headers (`x-ratelimit-*`, as OpenAI sends with every completion); when the
  body has `"stream": true`, a short server-sent event stream instead (chunked, like OpenAI's):
  three `chat.completion.chunk` frames, a usage chunk and `data: [DONE]`. The first frame goes
  out at once and the rest `STREAM_GAP_S` later, so that a proxy that buffers a stream instead
  of relaying it shows up in its time to first chunk.
- `GET /stats` answers `{"requests": n, "marked": m}`: the completions answered so far, and how
  many of them carried `--marker` in their headers (the proxy's provider secret, so that the
  requests that came through the proxy can be told from direct ones).

Anything else gets a 404; a chunked request body, which neither wrk nor the proxy sends, a 501.

Run `python -m bench.fake_upstream --port PORT [--marker TEXT]`; it stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import socket
from collections.abc import Callable
from typing import Any, cast

LOOPBACK = "127.0.0.1"
COMPLETIONS_PATH = b"/v1/chat/completions"
STATS_PATH = b"/stats"
STREAM_GAP_S = 0.002
# A request head larger than this is refused rather than buffered without end.
MAX_HEAD_BYTES = 64 * 1024
STREAM_FLAG = re.compile(rb'"stream"\s*:\s*true')

COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello! How can I help you today?"},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 9, "completion_tokens": 9, "total_tokens": 18},
    "system_fingerprint": "fp_bench",
}
STREAM_WORDS = ("Hello", "!", " Bench.")
STREAM_USAGE = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def stream_frames() -> list[bytes]:
    """The SSE frames of the streamed answer, in order."""

    def chunk(delta: dict[str, str], finish: str | None, usage: Any = None) -> bytes:
        event = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": "gpt-4o-2024-08-06",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if delta else [],
            "usage": usage,
        }
        return b"data: " + compact(event) + b"\n\n"

    words = [
        chunk({"role": "assistant", "content": word} if i == 0 else {"content": word}, None)
        for i, word in enumerate(STREAM_WORDS)
    ]
    return [*words, chunk({}, None, STREAM_USAGE), b"data: [DONE]\n\n"]


def http_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def fixed_response(status: str, content_type: str, body: bytes, extra: bytes = b"") -> bytes:
    return (
        (
            f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        ).encode()
        + extra
        + b"\r\n"
        + body
    )


# What OpenAI sends with every completion: the account's rate limits (the proxy passes them
# through, or puts a key's own in their place).
RATE_LIMIT_HEADERS = (
    b"x-ratelimit-limit-requests: 10000\r\nx-ratelimit-limit-tokens: 30000000\r\n"
    b"x-ratelimit-remaining-requests: 9999\r\nx-ratelimit-remaining-tokens: 29999982\r\n"
    b"x-ratelimit-reset-requests: 6ms\r\nx-ratelimit-reset-tokens: 0s\r\n"
)
COMPLETION_RESPONSE = fixed_response(
    "200 OK", "application/json", compact(COMPLETION), RATE_LIMIT_HEADERS
)
_FRAMES = stream_frames()
STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    + RATE_LIMIT_HEADERS
    + b"Transfer-Encoding: chunked\r\n\r\n"
    + http_chunk(_FRAMES[0])
)
STREAM_TAIL = b"".join(http_chunk(frame) for frame in _FRAMES[1:]) + b"0\r\n\r\n"
NOT_FOUND = fixed_response("404 Not Found", "text/plain", b"not found")
BAD_REQUEST = fixed_response("400 Bad Request", "text/plain", b"bad content-length")
NOT_IMPLEMENTED = fixed_response("501 Not Implemented", "text/plain", b"no chunked bodies")
TOO_LARGE = fixed_response("431 Request Header Fields Too Large", "text/plain", b"head too large")


class Counters:
    def __init__(self, marker: bytes) -> None:
        self.marker = marker.lower()
        self.requests = 0
        self.marked = 0


class FakeUpstream(asyncio.Protocol):
    """One connection. Requests are answered in order; a stream's tail is written before the
    answer to any request pipelined behind it."""

    def __init__(self, counters: Counters) -> None:
        self._counters = counters
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._tail_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._tail_timer is not None:
            self._tail_timer.cancel()
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._tail_timer is None:
            self._answer_buffered()

    def _answer_buffered(self) -> None:
        """Answer every complete request in the buffer, in one write."""
        transport = self._transport
        if transport is None:
            return
        out: list[bytes] = []
        close = False
        while True:
            head_end = self._buffer.find(b"\r\n\r\n")
            if head_end < 0:
                if len(self._buffer) > MAX_HEAD_BYTES:
                    out.append(TOO_LARGE)
                    close = True
                break
            head = bytes(self._buffer[:head_end]).lower()
            if b"\r\ntransfer-encoding:" in head:
                out.append(NOT_IMPLEMENTED)
                close = True
                break
            length = content_length(head)
            if length < 0:
                out.append(BAD_REQUEST)
                close = True
                break
            body_start = head_end + 4
            request_end = body_start + length
            if len(self._buffer) < request_end:
                break  # the rest of the body is still on its way
            body = bytes(self._buffer[body_start:request_end])
            del self._buffer[:request_end]
            close = b"\r\nconnection: close" in head
            answer, tail = self._answer(head, body)
            out.append(answer)
            if tail is not None:
                # Send the stream's first frame now, the rest later; hold further answers.
                self._tail_timer = asyncio.get_running_loop().call_later(
                    STREAM_GAP_S, self._send_tail, tail, close
                )
                transport.write(b"".join(out))
                return
            if close:
                break
        if out:
            transport.write(b"".join(out))
        if close:
            transport.close()

    def _send_tail(self, tail: bytes, close: bool) -> None:
        self._tail_timer = None
        if self._transport is None:
            return
        self._transport.write(tail)
        if close:
            self._transport.close()
            return
        self._answer_buffered()

    def _answer(self, head: bytes, body: bytes) -> tuple[bytes, bytes | None]:
        """The response (or a stream's head and first frame) and a stream's tail, if any."""
        line_end = head.find(b"\r\n")
        method, _, rest = head[: line_end if line_end >= 0 else len(head)].partition(b" ")
        target = rest.partition(b" ")[0].partition(b"?")[0]
        if method == b"post" and target == COMPLETIONS_PATH:
            self._counters.requests += 1
            if self._counters.marker and self._counters.marker in head:
                self._counters.marked += 1
            if STREAM_FLAG.search(body):
                return STREAM_HEAD, STREAM_TAIL
            return COMPLETION_RESPONSE, None
        if method == b"get" and target == STATS_PATH:
            stats = {"requests": self._counters.requests, "marked": self._counters.marked}
            return fixed_response("200 OK", "application/json", compact(stats)), None
        return NOT_FOUND, None


def content_length(head: bytes) -> int:
    """The Content-Length of a lower-cased request head: 0 when it has none, -1 when invalid."""
    start = head.find(b"\r\ncontent-length:")
    if start < 0:
        return 0
    start += len(b"\r\ncontent-length:")
    end = head.find(b"\r\n", start)
    raw = head[start : end if end >= 0 else len(head)].strip()
    return int(raw) if raw.isdigit() else -1


async def serve(port: int, marker: str) -> None:
    loop = asyncio.get_running_loop()
    counters = Counters(marker.encode())
    server = await loop.create_server(
        lambda: FakeUpstream(counters), LOOPBACK, port, reuse_address=True, backlog=1024
    )
    stopped = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    async with server:
        await stopped.wait()


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fake_upstream")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--marker", default="", help="count requests whose headers contain it")
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(serve(args.port, args.marker))


if __name__ == "__main__":
    main()
