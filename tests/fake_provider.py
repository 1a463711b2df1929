"""A fake LLM provider: a real HTTP server on loopback speaking OpenAI's and Anthropic's formats.

It records what it received (to prove what the proxy forwards) and can be told to misbehave:
answer late (or when told), fail with a status, drop the connection mid-stream, or stream slowly.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

INPUT_TOKENS = 11
OUTPUT_TOKENS = 7
STREAM_TEXT = ["Hel", "lo", " there"]


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    query: str = ""


@dataclass
class Faults:
    delay_s: float = 0.0
    # Answers only once this is set: a request held for as long as a test needs, however slow
    # the machine.
    hold: asyncio.Event | None = None
    status: int | None = None
    status_body: bytes = b'{"error": {"message": "upstream exploded", "type": "server_error"}}'
    reset_mid_stream: bool = False
    chunk_interval_s: float = 0.0
    stream_chunks: int = len(STREAM_TEXT)
    redirect_to: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeProvider:
    received: list[Received] = field(default_factory=list)
    faults: Faults = field(default_factory=Faults)
    stream_aborted: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._guarded(self._chat))
        app.router.add_post("/v1/responses", self._guarded(self._responses))
        app.router.add_post("/v1/embeddings", self._guarded(self._embeddings))
        app.router.add_post("/v1/messages", self._guarded(self._messages))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _guarded(
        self, handler: Callable[[web.Request, dict[str, Any]], Awaitable[web.StreamResponse]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def run(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            self.received.append(
                Received(
                    request.method, request.path, dict(request.headers), body, request.query_string
                )
            )
            if self.faults.delay_s:
                await asyncio.sleep(self.faults.delay_s)
            if self.faults.hold is not None:
                await self.faults.hold.wait()
            if self.faults.redirect_to is not None:
                raise web.HTTPFound(self.faults.redirect_to)
            if self.faults.status is not None:
                return web.Response(
                    status=self.faults.status,
                    body=self.faults.status_body,
                    content_type="application/json",
                )
            response = await handler(request, json.loads(body))
            if not response.prepared:
                response.headers.update(self.faults.headers)
            return response

        return run

    # --- OpenAI -------------------------------------------------------------------------------

    async def _chat(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        base = {"id": "chatcmpl-1", "created": int(time.time()), "model": body["model"]}
        usage = {
            "prompt_tokens": INPUT_TOKENS,
            "completion_tokens": OUTPUT_TOKENS,
            "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS,
        }
        if not body.get("stream"):
            return web.json_response(
                {
                    **base,
                    "object": "chat.completion",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "".join(STREAM_TEXT)},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                }
            )
        with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        events = [
            {
                **base,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
                # As OpenAI does: asked for usage, every chunk carries the field, null but last.
                **({"usage": None} if with_usage else {}),
            }
            for text in self._texts()
        ]
        if with_usage:
            events.append(
                {**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}
            )
        frames = [
            f"data: {json.dumps(event, separators=(',', ':'))}\n\n".encode() for event in events
        ]
        return await self._stream(request, [*frames, b"data: [DONE]\n\n"])

    async def _responses(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        response = {
            "id": "resp_1",
            "object": "response",
            "created_at": int(time.time()),
            "model": body["model"],
            "status": "completed",
            "output": [
                {
                    "type": "message",
                    "id": "msg_1",
                    "role": "assistant",
                    "status": "completed",
                    "content": [
                        {"type": "output_text", "text": "".join(STREAM_TEXT), "annotations": []}
                    ],
                }
            ],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": {
                "input_tokens": INPUT_TOKENS,
                "output_tokens": OUTPUT_TOKENS,
                "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens_details": {"reasoning_tokens": 0},
            },
        }
        return web.json_response(response)

    async def _embeddings(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        return web.json_response(
            {
                "object": "list",
                "model": body["model"],
                "data": [
                    {"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]}
                    for i, _ in enumerate(inputs)
                ],
                "usage": {"prompt_tokens": INPUT_TOKENS, "total_tokens": INPUT_TOKENS},
            }
        )

    # --- Anthropic ----------------------------------------------------------------------------

    async def _messages(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        message = {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [{"type": "text", "text": "".join(STREAM_TEXT)}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": OUTPUT_TOKENS},
        }
        if not body.get("stream"):
            return web.json_response(message)
        start = {**message, "content": [], "stop_reason": None}
        start["usage"] = {"input_tokens": INPUT_TOKENS, "output_tokens": 1}
        events: list[tuple[str, dict[str, Any]]] = [
            ("message_start", {"type": "message_start", "message": start}),
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            ),
            *(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": text},
                    },
                )
                for text in self._texts()
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": OUTPUT_TOKENS},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        frames = [f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events]
        return await self._stream(request, frames)

    # --- streaming and faults -----------------------------------------------------------------

    def _texts(self) -> list[str]:
        count = self.faults.stream_chunks
        return [STREAM_TEXT[i % len(STREAM_TEXT)] for i in range(count)]

    async def _stream(self, request: web.Request, frames: list[bytes]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        try:
            for index, frame in enumerate(frames):
                if self.faults.reset_mid_stream and index == 2:
                    assert request.transport is not None
                    request.transport.abort()
                    return response
                await response.write(frame)
                if self.faults.chunk_interval_s:
                    await asyncio.sleep(self.faults.chunk_interval_s)
        except (ConnectionResetError, asyncio.CancelledError):
            self.stream_aborted.set()
            raise
        await response.write_eof()
        return response
