"""A webhook endpoint on loopback: records every request, and can be told to misbehave
(answer an error, answer late, redirect, answer a huge body). Signatures are checked with the
Standard Webhooks reference verifier."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook as Verifier


@dataclass
class Delivered:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def message_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def payload(self) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(self.body)
        return decoded

    @property
    def type(self) -> str:
        return str(self.payload["type"])

    def verify(self, secret: str) -> dict[str, Any]:
        """The reference verifier's verdict (raises when the signature does not hold). It
        checks the timestamp against the real clock too."""
        verified: dict[str, Any] = Verifier(secret).verify(self.body, self.headers)
        return verified

    def signed_with(self, secret: str) -> bool:
        """The signature check alone, for deliveries signed at a simulated time."""
        timestamp = datetime.fromtimestamp(int(self.headers["webhook-timestamp"]), UTC)
        expected = Verifier(secret).sign(self.message_id, timestamp, self.body.decode())
        return expected in self.headers["webhook-signature"].split(" ")


@dataclass
class Behaviour:
    status: int = 200
    delay_s: float = 0.0
    redirect_to: str | None = None
    body_bytes: int = 2


@dataclass
class Receiver:
    received: list[Delivered] = field(default_factory=list)
    behaviour: Behaviour = field(default_factory=Behaviour)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    port: int = 0
    _runner: web.AppRunner | None = None

    def url(self, path: str = "/hooks") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_for(self, count: int) -> list[Delivered]:
        """Until `count` requests have arrived in all (10 s at most); then all of them."""
        async with asyncio.timeout(10), self.arrived:
            await self.arrived.wait_for(lambda: len(self.received) >= count)
        return list(self.received)

    def of_type(self, type_: str) -> list[Delivered]:
        return [delivered for delivered in self.received if delivered.type == type_]

    async def _receive(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        behaviour = self.behaviour
        async with self.arrived:
            headers = {name.lower(): value for name, value in request.headers.items()}
            self.received.append(Delivered(request.path, headers, body))
            self.arrived.notify_all()
        if behaviour.delay_s:
            await asyncio.sleep(behaviour.delay_s)
        if behaviour.redirect_to is not None:
            raise web.HTTPFound(behaviour.redirect_to)
        return web.Response(status=behaviour.status, body=b"x" * behaviour.body_bytes)
