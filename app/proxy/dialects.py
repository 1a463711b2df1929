"""The two wire formats the proxy speaks, OpenAI's and Anthropic's: errors, usage, upstream auth.

Each provider is reached in its own format (no translation), so a dialect is also a provider. A
dialect knows how its errors look, how its responses report tokens, and how its upstream expects
to be authenticated.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from app.clock import Clock
from app.llm_keys.catalog import Provider
from app.policies.enforcer import RateState


class ErrorKind(StrEnum):
    """What went wrong, in our terms; each dialect names it its own way."""

    UNAUTHENTICATED = "unauthenticated"
    MODEL_NOT_FOUND = "model_not_found"
    INVALID_REQUEST = "invalid_request"
    TOO_LARGE = "too_large"
    UNKNOWN_ENDPOINT = "unknown_endpoint"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    UPSTREAM_UNREACHABLE = "upstream_unreachable"
    UPSTREAM_TIMEOUT = "upstream_timeout"
    # Our database is unreachable: nothing is wrong with the request; retry shortly.
    UNAVAILABLE = "unavailable"
    # The key's policy: it may not (scope, address, model), not now (rate), or no more (budget).
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    BUDGET_EXHAUSTED = "budget_exhausted"
    INTERNAL = "internal"


_STATUS = {
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.MODEL_NOT_FOUND: 404,
    ErrorKind.INVALID_REQUEST: 400,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.UNKNOWN_ENDPOINT: 404,
    ErrorKind.METHOD_NOT_ALLOWED: 405,
    ErrorKind.UPSTREAM_UNREACHABLE: 502,
    ErrorKind.UPSTREAM_TIMEOUT: 504,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.BUDGET_EXHAUSTED: 429,
    ErrorKind.INTERNAL: 500,
}

_OPENAI_TYPES = {
    ErrorKind.UNAUTHENTICATED: ("invalid_request_error", "invalid_api_key"),
    ErrorKind.MODEL_NOT_FOUND: ("invalid_request_error", "model_not_found"),
    ErrorKind.INVALID_REQUEST: ("invalid_request_error", None),
    ErrorKind.TOO_LARGE: ("invalid_request_error", "request_too_large"),
    ErrorKind.UNKNOWN_ENDPOINT: ("invalid_request_error", "unknown_url"),
    ErrorKind.METHOD_NOT_ALLOWED: ("invalid_request_error", "method_not_allowed"),
    ErrorKind.UPSTREAM_UNREACHABLE: ("api_error", "upstream_unreachable"),
    ErrorKind.UPSTREAM_TIMEOUT: ("api_error", "upstream_timeout"),
    ErrorKind.UNAVAILABLE: ("api_error", "service_unavailable"),
    ErrorKind.FORBIDDEN: ("invalid_request_error", "permission_denied"),
    ErrorKind.RATE_LIMITED: ("requests", "rate_limit_exceeded"),
    # What OpenAI answers when an account's quota is used up; its SDK does not retry it.
    ErrorKind.BUDGET_EXHAUSTED: ("insufficient_quota", "insufficient_quota"),
    ErrorKind.INTERNAL: ("api_error", "internal_error"),
}

_ANTHROPIC_TYPES = {
    ErrorKind.UNAUTHENTICATED: "authentication_error",
    ErrorKind.MODEL_NOT_FOUND: "not_found_error",
    ErrorKind.INVALID_REQUEST: "invalid_request_error",
    ErrorKind.TOO_LARGE: "request_too_large",
    ErrorKind.UNKNOWN_ENDPOINT: "not_found_error",
    ErrorKind.METHOD_NOT_ALLOWED: "invalid_request_error",
    ErrorKind.UPSTREAM_UNREACHABLE: "api_error",
    ErrorKind.UPSTREAM_TIMEOUT: "timeout_error",
    ErrorKind.UNAVAILABLE: "api_error",
    ErrorKind.FORBIDDEN: "permission_error",
    ErrorKind.RATE_LIMITED: "rate_limit_error",
    ErrorKind.BUDGET_EXHAUSTED: "rate_limit_error",
    ErrorKind.INTERNAL: "api_error",
}

# Token counts as the providers name them, in responses and in streamed events.
_TOKEN_FIELD = re.compile(
    rb'"(prompt_tokens|input_tokens|completion_tokens|output_tokens)"\s*:\s*(\d+)'
)
_USAGE_MARK = b'"usage"'
_MAX_TOKENS = 2**31 - 1
# How far past `"usage"` the token counts can be; usage objects are small.
_USAGE_WINDOW = 600


@dataclass(frozen=True)
class ProxyError(Exception):
    kind: ErrorKind
    message: str
    # Sent with the error: Retry-After, rate-limit headers, x-should-retry.
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def status(self) -> int:
        return _STATUS[self.kind]


def error_body(provider: Provider, kind: ErrorKind, message: str) -> bytes:
    if provider is Provider.ANTHROPIC:
        body: dict[str, object] = {
            "type": "error",
            "error": {"type": _ANTHROPIC_TYPES[kind], "message": message},
        }
    else:
        error_type, code = _OPENAI_TYPES[kind]
        body = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
    return json.dumps(body).encode()


def stream_error_event(provider: Provider, message: str) -> bytes:
    """A server-sent event that the provider's SDK raises as an error, ending a broken stream.

    It starts with a blank line so that a frame the provider left half-written ends first.
    """
    if provider is Provider.ANTHROPIC:
        body = error_body(provider, ErrorKind.UPSTREAM_UNREACHABLE, message)
        return b"\n\nevent: error\ndata: " + body + b"\n\n"
    return b"\n\ndata: " + error_body(provider, ErrorKind.UPSTREAM_UNREACHABLE, message) + b"\n\n"


def rate_limit_headers(provider: Provider, rate: RateState, clock: Clock) -> dict[str, str]:
    """A key's rate limits as the provider's own headers, so its SDK paces itself. Written out
    straight: every response of a key with a rate limit carries them."""
    if provider is Provider.ANTHROPIC:
        names = _ANTHROPIC_RATE_HEADERS
        reset = _instant(rate.reset_at_ms)
    else:
        names = _OPENAI_RATE_HEADERS
        # From now: the response may start seconds after its request was admitted.
        reset = _duration(max(rate.reset_at_ms - clock.now_ms(), 1) / 1000)
    headers: dict[str, str] = {}
    if rate.requests_limit is not None:
        headers[names[0]] = str(rate.requests_limit)
        headers[names[1]] = str(rate.requests_remaining)
        headers[names[2]] = reset
    if rate.tokens_limit is not None:
        headers[names[3]] = str(rate.tokens_limit)
        headers[names[4]] = str(rate.tokens_remaining)
        headers[names[5]] = reset
    return headers


# (limit, remaining, reset) for requests, then for tokens.
_OPENAI_RATE_HEADERS = tuple(
    f"x-ratelimit-{which}-{what}"
    for what in ("requests", "tokens")
    for which in ("limit", "remaining", "reset")
)
_ANTHROPIC_RATE_HEADERS = tuple(
    f"anthropic-ratelimit-{what}-{which}"
    for what in ("requests", "tokens")
    for which in ("limit", "remaining", "reset")
)


def _duration(seconds: float) -> str:
    """As OpenAI writes it: 250ms, 12s, 1m0s."""
    if seconds < 1:
        return f"{max(1, round(seconds * 1000))}ms"
    whole = math.ceil(seconds)
    return _WHOLE_SECONDS.get(whole) or _whole_seconds(whole)


def _whole_seconds(whole: int) -> str:
    return f"{whole // 60}m{whole % 60}s" if whole >= 60 else f"{whole}s"


# A minute's counters start again within 60 s: those are the durations written.
_WHOLE_SECONDS = {whole: _whole_seconds(whole) for whole in range(1, 61)}


@functools.lru_cache(maxsize=4)
def _instant(epoch_ms: int) -> str:
    """As Anthropic writes it (RFC 3339, to the second). Kept: it is the minute's end, the same
    for every request of a minute."""
    return datetime.fromtimestamp(epoch_ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def upstream_auth_headers(
    provider: Provider, secret: str, client_headers: Mapping[str, str], anthropic_version: str
) -> dict[str, str]:
    if provider is Provider.ANTHROPIC:
        headers = {
            "x-api-key": secret,
            "anthropic-version": client_headers.get("anthropic-version", anthropic_version),
        }
        beta = client_headers.get("anthropic-beta")
        if beta:
            headers["anthropic-beta"] = beta
        return headers
    return {"authorization": f"Bearer {secret}"}


@dataclass
class TokenCounter:
    """Finds token counts in a response, whole or streamed chunk by chunk, without parsing it.

    Usage objects are small and near the end of a body (or in one late event of a stream), so a
    byte search for `"usage"` and a regex over the next few hundred bytes costs microseconds even
    on megabyte embedding responses. The last count seen wins: streamed events carry running
    totals.
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    _tail: bytes = b""

    def feed(self, chunk: bytes) -> None:
        data = self._tail + chunk
        start = data.find(_USAGE_MARK)
        while start != -1:
            self._read_counts(data[start : start + _USAGE_WINDOW])
            start = data.find(_USAGE_MARK, start + len(_USAGE_MARK))
        # A usage object cut in two by a chunk boundary is read whole on the next chunk.
        self._tail = data[-_USAGE_WINDOW:]

    def _read_counts(self, window: bytes) -> None:
        for name, value in _TOKEN_FIELD.findall(window):
            # Clamped: the columns are 32-bit, and the number comes from outside.
            count = min(int(value[:10]), _MAX_TOKENS)
            if name in (b"prompt_tokens", b"input_tokens"):
                self.input_tokens = count
            else:
                self.output_tokens = count


# --- usage on every stream -----------------------------------------------------------------------
#
# An OpenAI chat completion streamed without `stream_options.include_usage` reports no tokens, and
# most clients do not ask for them. So the proxy asks for them on every such stream, and gives
# the client the stream it asked for: without the final usage chunk, and without the
# `"usage": null` that every other chunk then carries. The one exception to the byte-for-byte
# pass-through.

_STREAM_OPTIONS = "stream_options"


def with_usage_asked(body: bytes) -> bytes | None:
    """The body of a streamed chat completion that does not ask for usage, asking for it; None
    when it needs no change (not streamed, or usage asked already)."""
    if b'"stream"' not in body:
        return None
    try:
        request = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(request, dict) or request.get("stream") is not True:
        return None
    options = request.get(_STREAM_OPTIONS)
    if isinstance(options, dict) and options.get("include_usage") is True:
        return None
    request[_STREAM_OPTIONS] = {
        **(options if isinstance(options, dict) else {}),
        "include_usage": True,
    }
    return json.dumps(request, ensure_ascii=False, separators=(",", ":")).encode()


class UsageHider:
    """Takes the stream from the provider, gives back the stream the client asked for: server-sent
    events whose data carries `usage`, rewritten or dropped as above. Bytes pass untouched when
    they are not such an event."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self._pending + chunk
        end = data.rfind(b"\n\n")
        if end == -1:
            self._pending = data
            return b""
        complete, self._pending = data[: end + 2], data[end + 2 :]
        if b'"usage"' not in complete:
            return complete
        return b"".join(_without_usage(event) for event in complete.split(b"\n\n")[:-1])

    def flush(self) -> bytes:
        rest, self._pending = self._pending, b""
        return rest


def _without_usage(event: bytes) -> bytes:
    if b'"usage"' not in event or not event.startswith(b"data: {"):
        return event + b"\n\n"
    try:
        chunk = json.loads(event[6:])
    except ValueError:
        return event + b"\n\n"
    if not isinstance(chunk, dict) or "usage" not in chunk:
        return event + b"\n\n"
    if chunk["usage"] is not None and chunk.get("choices") == []:
        return b""  # the usage chunk the client did not ask for
    del chunk["usage"]
    return (
        b"data: " + json.dumps(chunk, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"
    )
