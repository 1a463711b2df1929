"""OpenAI- and Anthropic-compatible endpoints: the official SDKs work unchanged via `base_url`.

A request: verify the project key (the same verifier as the GraphQL guard) -> read `model` from
the body -> look it up in the project's cached routes -> forward the untouched body with the
provider secret -> relay the response (server-sent events chunk by chunk) -> hand a usage record
to the batched recorder. The client's project key never leaves this service.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec
from litestar import Request, Response, Router, get, post
from litestar.exceptions import HTTPException
from litestar.response import Stream

from app.api_keys.verifier import VerifiedKey
from app.http_errors import is_client_gone
from app.llm_keys.catalog import MAX_MODEL_ID_LENGTH, Model, Provider, is_model_id
from app.proxy.dialects import (
    ErrorKind,
    ProxyError,
    TokenCounter,
    error_body,
    stream_error_event,
    upstream_auth_headers,
)
from app.proxy.routing import ProjectRoutes, Route
from app.proxy.upstream import forwarded_headers, response_headers, timeout, unreachable
from app.security.guard import BearerRejected, bearer_token
from app.services import Services
from app.usage.recorder import UsageRecord

log = logging.getLogger(__name__)


_UPSTREAM_FAILURES = (ErrorKind.UPSTREAM_UNREACHABLE, ErrorKind.UPSTREAM_TIMEOUT)


class _ModelPeek(msgspec.Struct):
    """The one field the proxy reads from a request body; the rest passes through untouched."""

    model: Any = None


_peek = msgspec.json.Decoder(_ModelPeek)


@dataclass
class _Call:
    """One proxied request, as the usage record will tell it."""

    services: Services
    endpoint: str
    client_ip: str | None
    started: float
    verified: VerifiedKey | None = None
    provider: Provider | None = None
    model: str | None = None

    def record(
        self, status: int, tokens: TokenCounter | None = None, *, upstream_failed: bool = False
    ) -> None:
        if self.verified is None:
            return
        self.services.usage.record(
            UsageRecord(
                project_id=self.verified.project_id,
                api_key_id=self.verified.key_id,
                endpoint=self.endpoint,
                status=status,
                latency_ms=int((time.perf_counter() - self.started) * 1000),
                at=self.services.clock.now(),
                provider=self.provider.value if self.provider else None,
                model=self.model,
                input_tokens=tokens.input_tokens if tokens else None,
                output_tokens=tokens.output_tokens if tokens else None,
                client_ip=self.client_ip,
                upstream_failed=upstream_failed,
            )
        )

    def record_error(self, error: ProxyError) -> None:
        upstream_failed = error.kind in _UPSTREAM_FAILURES
        if upstream_failed and self.provider is not None:
            kind = "timeout" if error.kind is ErrorKind.UPSTREAM_TIMEOUT else "unreachable"
            self.services.metrics.upstream_errors.labels(self.provider.value, kind).inc()
        self.record(error.status, upstream_failed=upstream_failed)

    def upstream_answered(self, status: int, tokens: TokenCounter | None = None) -> None:
        if status >= 500 and self.provider is not None:
            self.services.metrics.upstream_errors.labels(self.provider.value, "status_5xx").inc()
        self.record(status, tokens, upstream_failed=status >= 500)


def _call(request: Request[Any, Any, Any], endpoint: str | None = None) -> _Call:
    return _Call(
        services=_services(request),
        endpoint=endpoint or request.url.path,
        client_ip=request.client.host if request.client else None,
        started=time.perf_counter(),
    )


def _services(request: Request[Any, Any, Any]) -> Services:
    services: Services = request.app.state.services
    return services


async def _verify(request: Request[Any, Any, Any], call: _Call) -> VerifiedKey:
    authorization = request.headers.get("authorization")
    try:
        # Anthropic's SDK sends the key as x-api-key; OpenAI's as a bearer token.
        token = bearer_token(authorization) if authorization else request.headers.get("x-api-key")
        if not token:
            raise BearerRejected("no credential", "missing")
        return await call.services.api_key_authenticator.verify(token, call.client_ip)
    except BearerRejected as rejected:
        log.info("proxy refused a credential on %s: %s", call.endpoint, rejected.reason)
        call.services.metrics.auth_failed(rejected.category)
        raise ProxyError(
            ErrorKind.UNAUTHENTICATED,
            "Invalid, expired or revoked project API key. Send it as `Authorization: Bearer` "
            "or `x-api-key`.",
        ) from None


def _requested_model(body: bytes) -> str:
    try:
        model = _peek.decode(body).model
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise ProxyError(
            ErrorKind.INVALID_REQUEST, "The request body must be a JSON object."
        ) from None
    if not isinstance(model, str) or not model:
        raise ProxyError(ErrorKind.INVALID_REQUEST, "The request body needs a `model`.")
    if len(model) > MAX_MODEL_ID_LENGTH or not is_model_id(model):
        raise ProxyError(
            ErrorKind.INVALID_REQUEST,
            f"`model` must be a model id: 1-{MAX_MODEL_ID_LENGTH} characters, no spaces or "
            "control characters.",
        )
    return model


async def _routes(call: _Call, verified: VerifiedKey) -> ProjectRoutes:
    return await call.services.routes.routes_for(verified.project_id, verified.llm_keys_version)


def _route(routes: ProjectRoutes, model: str, dialect: Provider) -> Route:
    route = routes.routes.get(model)
    if route is None:
        raise ProxyError(
            ErrorKind.MODEL_NOT_FOUND,
            f"The model `{model}` does not exist or this project has no provider key for it.",
        )
    if route.provider is not dialect:
        raise ProxyError(
            ErrorKind.INVALID_REQUEST,
            f"The model `{model}` is served by {route.provider.name.lower()}; call "
            f"{_ENDPOINT_HINT[route.provider]} in its format instead.",
        )
    return route


_ENDPOINT_HINT = {
    Provider.OPENAI: "/v1/chat/completions, /v1/responses or /v1/embeddings",
    Provider.ANTHROPIC: "/v1/messages",
}


def _error_response(dialect: Provider, error: ProxyError) -> Response[bytes]:
    return Response(
        error_body(dialect, error.kind, error.message),
        status_code=error.status,
        media_type="application/json",
    )


async def _forward(request: Request[Any, Any, Any], dialect: Provider) -> Response[Any]:
    call = _call(request)
    services = call.services
    try:
        verified = call.verified = await _verify(request, call)
        body = await request.body()
        model = _requested_model(body)
        route = _route(await _routes(call, verified), model, dialect)
        # Only a model the project routes is recorded: the field is the client's to fill.
        call.model, call.provider = model, route.provider
        headers = forwarded_headers(request.headers)
        headers.update(
            upstream_auth_headers(
                route.provider,
                route.secret,
                request.headers,
                services.settings.proxy.default_anthropic_version,
            )
        )
        sent = time.perf_counter()
        upstream = await services.upstream.send(
            "POST",
            services.upstream.url(route.provider, request.url.path, request.url.query),
            headers,
            body,
            route.provider,
        )
        services.metrics.upstream_latency.labels(route.provider.value).observe(
            time.perf_counter() - sent
        )
    except ProxyError as error:
        call.record_error(error)
        return _error_response(dialect, error)
    if upstream.content_type == "text/event-stream":
        return Stream(
            _relay(upstream, call, dialect),
            status_code=upstream.status,
            headers=response_headers(upstream.headers),
        )
    return await _buffered(upstream, call, dialect, route.provider)


async def _buffered(
    upstream: aiohttp.ClientResponse, call: _Call, dialect: Provider, provider: Provider
) -> Response[Any]:
    try:
        payload = await upstream.read()
    except (aiohttp.ServerTimeoutError, TimeoutError):
        error = timeout(provider)
        call.record_error(error)
        return _error_response(dialect, error)
    except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, OSError):
        error = unreachable(provider)
        call.record_error(error)
        return _error_response(dialect, error)
    finally:
        upstream.release()
    tokens = TokenCounter()
    tokens.feed(payload)
    call.upstream_answered(upstream.status, tokens)
    return Response(
        payload,
        status_code=upstream.status,
        headers=response_headers(upstream.headers),
        media_type=upstream.headers.get("content-type", "application/json"),
    )


async def _relay(
    upstream: aiohttp.ClientResponse, call: _Call, dialect: Provider
) -> AsyncIterator[bytes]:
    """Pass server-sent events through as they arrive, counting tokens on the way.

    If the client goes away, the stream is cancelled and closing the upstream response cancels
    the provider's request too. If the provider breaks off, the status is already sent: the stream
    ends with an error event in the provider's own format, which both SDKs raise as an error.
    """
    tokens = TokenCounter()
    status = upstream.status
    try:
        async for chunk in upstream.content.iter_any():
            tokens.feed(chunk)
            yield chunk
    except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError, OSError):
        status = 502
        log.info("upstream stream from %s broke off", call.provider)
        call.services.metrics.upstream_errors.labels(dialect.value, "stream").inc()
        yield stream_error_event(
            dialect, f"The {dialect.name.lower()} API broke off the stream; retry the request."
        )
    finally:
        upstream.close()
        if status == upstream.status:
            call.upstream_answered(status, tokens)
        else:
            call.record(status, tokens, upstream_failed=True)


@post("/chat/completions")
async def chat_completions(request: Request[Any, Any, Any]) -> Response[Any]:
    return await _forward(request, Provider.OPENAI)


@post("/responses")
async def responses(request: Request[Any, Any, Any]) -> Response[Any]:
    return await _forward(request, Provider.OPENAI)


@post("/embeddings")
async def embeddings(request: Request[Any, Any, Any]) -> Response[Any]:
    return await _forward(request, Provider.OPENAI)


@post("/messages")
async def messages(request: Request[Any, Any, Any]) -> Response[Any]:
    return await _forward(request, Provider.ANTHROPIC)


@get("/models")
async def list_models(request: Request[Any, Any, Any]) -> Response[Any]:
    dialect = _listing_dialect(request)
    call = _call(request)
    try:
        verified = call.verified = await _verify(request, call)
        models = (await _routes(call, verified)).models
    except ProxyError as error:
        call.record_error(error)
        return _error_response(dialect, error)
    call.record(200)
    return Response(_model_list(dialect, models), media_type="application/json")


@get("/models/{model_id:str}")
async def retrieve_model(request: Request[Any, Any, Any], model_id: str) -> Response[Any]:
    dialect = _listing_dialect(request)
    call = _call(request, "/v1/models/{model}")
    try:
        verified = call.verified = await _verify(request, call)
        match = [m for m in (await _routes(call, verified)).models if m.id == model_id]
        if not match:
            raise ProxyError(ErrorKind.MODEL_NOT_FOUND, f"The model `{model_id}` does not exist.")
    except ProxyError as error:
        call.record_error(error)
        return _error_response(dialect, error)
    call.record(200)
    return Response(_model_entry(dialect, match[0]), media_type="application/json")


def _listing_dialect(request: Request[Any, Any, Any]) -> Provider:
    # Both SDKs call GET /v1/models; Anthropic's always sends anthropic-version.
    return Provider.ANTHROPIC if "anthropic-version" in request.headers else Provider.OPENAI


def _model_entry(dialect: Provider, model: Model) -> dict[str, Any]:
    if dialect is Provider.ANTHROPIC:
        return {
            "type": "model",
            "id": model.id,
            "display_name": model.id,
            "created_at": "1970-01-01T00:00:00Z",
        }
    return {"id": model.id, "object": "model", "created": 0, "owned_by": model.provider.value}


def _model_list(dialect: Provider, models: list[Model]) -> dict[str, Any]:
    data = [_model_entry(dialect, model) for model in models]
    if dialect is Provider.ANTHROPIC:
        return {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
    return {"object": "list", "data": data}


def _edge_error(request: Request[Any, Any, Any], error: Exception) -> Response[bytes]:
    """Errors raised outside the handlers (413, 404, 405, crashes) in the caller's dialect."""
    dialect = (
        Provider.ANTHROPIC
        if request.url.path.endswith("/messages") or "anthropic-version" in request.headers
        else Provider.OPENAI
    )
    if is_client_gone(error):
        log.info("client disconnected before sending its whole request on %s", request.url.path)
        return Response(b"", status_code=400)
    if isinstance(error, HTTPException) and error.status_code == 413:
        proxy_error = ProxyError(ErrorKind.TOO_LARGE, "The request body is too large.")
        return _error_response(dialect, proxy_error)
    if isinstance(error, HTTPException) and error.status_code < 500:
        kind = ErrorKind.MODEL_NOT_FOUND if error.status_code == 404 else ErrorKind.INVALID_REQUEST
        body = error_body(dialect, kind, str(error.detail))
        return Response(body, status_code=error.status_code, media_type="application/json")
    log.error("proxy failure on %s", request.url.path, exc_info=error)
    return _error_response(dialect, ProxyError(ErrorKind.INTERNAL, "Internal error."))


def proxy_router(max_body_bytes: int) -> Router:
    handlers: list[Callable[..., Any]] = [
        chat_completions,
        responses,
        embeddings,
        messages,
        list_models,
        retrieve_model,
    ]
    return Router(
        path="/v1",
        route_handlers=handlers,
        request_max_body_size=max_body_bytes,
        exception_handlers={HTTPException: _edge_error, Exception: _edge_error},
    )
