"""One proxied HTTP exchange at the ASGI level: read the body under a limit, answer, or stream.

The proxy passes bytes through; it needs no request parsing, validation or response rendering
from the web framework, and skipping them is a large share of what a proxied request costs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping

from litestar.types import HTTPScope, Receive, Send


class BodyTooLarge(Exception):
    """The request body is over the limit (by its Content-Length or as it arrived)."""


class ClientGone(Exception):
    """The client hung up before its request body was complete."""


class Exchange:
    __slots__ = ("_receive", "_send", "client_ip", "headers", "method", "path", "query", "started")

    def __init__(self, scope: HTTPScope, receive: Receive, send: Send, path: str) -> None:
        self._receive = receive
        self._send = send
        self.method: str = scope["method"]
        self.path = path
        self.query = scope["query_string"].decode("latin-1")
        client = scope.get("client")
        self.client_ip: str | None = client[0] if client else None
        self.headers = _header_map(scope["headers"])
        self.started = False

    async def body(self, limit: int) -> bytes:
        declared = self.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self._receive()
            if message["type"] != "http.request":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def respond(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        await self._start(status, headers, len(body))
        await self._send({"type": "http.response.body", "body": body, "more_body": False})

    async def stream(
        self,
        status: int,
        headers: Mapping[str, str],
        chunks: AsyncIterator[bytes],
    ) -> None:
        """Send each chunk as it comes. A client that leaves cancels the iteration (so its
        `finally` runs and closes whatever feeds it) instead of letting it run to the end."""
        await self._start(status, headers, None)
        relay = asyncio.ensure_future(self._send_each(chunks))
        departure = asyncio.ensure_future(self._client_departure())
        try:
            await asyncio.wait((relay, departure), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (relay, departure):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await departure
            with contextlib.suppress(asyncio.CancelledError):
                await relay

    async def _send_each(self, chunks: AsyncIterator[bytes]) -> None:
        async for chunk in chunks:
            await self._send({"type": "http.response.body", "body": chunk, "more_body": True})
        await self._send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _client_departure(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass

    async def _start(self, status: int, headers: Mapping[str, str], length: int | None) -> None:
        raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
        if length is not None:
            raw.append((b"content-length", str(length).encode()))
        self.started = True
        await self._send({"type": "http.response.start", "status": status, "headers": raw})


def _header_map(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Header names lower-cased (ASGI servers already do), repeated headers joined as HTTP
    allows."""
    headers: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers
