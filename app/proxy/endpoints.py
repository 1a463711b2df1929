"""OpenAI- and Anthropic-compatible endpoints: the official SDKs work unchanged via `base_url`.

A request: verify the project key (the same verifier as the GraphQL guard) -> read `model` from
the body -> look it up in the project's cached routes -> forward the untouched body with the
provider secret -> relay the response (server-sent events chunk by chunk) -> hand a usage record
to the batched recorder. The client's project key never leaves this service.

The endpoints form one small ASGI app mounted at /v1 (see `exchange.py` for why): it names the
route for metrics and usage itself, from a fixed table, and answers everything in the caller's
provider format, including unknown paths, wrong methods and crashes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import msgspec
from litestar import asgi
from litestar.handlers import ASGIRouteHandler
from litestar.types import HTTPScope, Receive, Scope, Send

from app import db
from app.api_keys.policy import Scope as KeyScope
from app.api_keys.verifier import VerifiedKey
from app.http_errors import DATABASE_UNAVAILABLE_MESSAGE, RETRY_AFTER_SECONDS
from app.llm_keys.catalog import MAX_MODEL_ID_LENGTH, Model, ModelPrice, Provider, is_model_id
from app.policies.enforcer import PolicyRefusal, Refused, Ticket, check_access, check_model
from app.proxy.client import UpstreamError, UpstreamResponse
from app.proxy.dialects import (
    ErrorKind,
    ProxyError,
    TokenCounter,
    UsageHider,
    error_body,
    rate_limit_headers,
    stream_error_event,
    upstream_auth_headers,
    with_usage_asked,
)
from app.proxy.exchange import BodyTooLarge, ClientGone, Exchange
from app.proxy.model_routes import ProjectRoutes, Route
from app.proxy.upstream import (
    as_proxy_error,
    forwarded_headers,
    response_headers,
)
from app.security.guard import BearerRejected, bearer_token
from app.security.refusals import Refusal
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
    price: ModelPrice | None = None
    # Admitted by the key's policy: settled (tokens, spend, the place in flight) exactly once.
    ticket: Ticket | None = None
    policy_refusal: PolicyRefusal | None = None

    def record(
        self, status: int, tokens: TokenCounter | None = None, *, upstream_failed: bool = False
    ) -> None:
        cost = self._cost(tokens)
        self.settle(tokens, cost, forwarded=self.provider is not None)
        if self.verified is None or not self.services.usage_recorder.enabled:
            return
        self.services.usage_recorder.record(
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
                policy_refusal=self.policy_refusal.value if self.policy_refusal else None,
                cost_micros=cost,
            )
        )

    def settle(
        self, tokens: TokenCounter | None, cost: int | None = None, *, forwarded: bool = False
    ) -> None:
        """Tell the key's counters what the request used (once; nothing when never admitted)."""
        ticket, self.ticket = self.ticket, None
        if ticket is not None:
            used = (tokens.input_tokens or 0) + (tokens.output_tokens or 0) if tokens else 0
            self.services.policies.settle(
                ticket, tokens=used, cost_micros=cost, forwarded=forwarded
            )

    def _cost(self, tokens: TokenCounter | None) -> int | None:
        if self.price is None or tokens is None or tokens.input_tokens is None:
            return None
        return self.price.cost_micros(tokens.input_tokens or 0, tokens.output_tokens or 0)

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


async def _verify(exchange: Exchange, call: _Call) -> VerifiedKey:
    authorization = exchange.headers.get("authorization")
    try:
        # Anthropic's SDK sends the key as x-api-key; OpenAI's as a bearer token.
        token = bearer_token(authorization) if authorization else exchange.headers.get("x-api-key")
        if not token:
            raise BearerRejected(Refusal.MISSING, "no credential")
        return await call.services.api_key_authenticator.verify(token, call.client_ip)
    except BearerRejected as rejected:
        log.info("proxy refused a credential on %s: %s", call.endpoint, rejected.reason)
        call.services.metrics.auth_failed(rejected.refusal)
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
    except RecursionError:
        raise ProxyError(ErrorKind.INVALID_REQUEST, "The request body nests too deeply.") from None
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


def _check_access(call: _Call, verified: VerifiedKey) -> None:
    """Scope and address: the key's policy, with no I/O."""
    refused = check_access(verified.policy, KeyScope.PROXY, call.client_ip)
    if refused is not None:
        raise _policy_error(call, refused, Provider.OPENAI)


def _check_model(call: _Call, verified: VerifiedKey, model: str) -> None:
    """The model, once known (scope and address were checked before the body was read)."""
    refused = check_model(verified.policy, model)
    if refused is not None:
        raise _policy_error(call, refused, Provider.OPENAI)


async def _admit(call: _Call, verified: VerifiedKey, dialect: Provider) -> Ticket:
    """Rate limits, requests in flight and budgets: asked of the counters when the key or its
    project has any (decided here, without waiting, for nearly every request)."""
    policies = call.services.policies
    asked = (verified.key_id, verified.project_id, verified.policy, verified.project_budgets)
    admitted = policies.admit_at_once(*asked)
    if admitted is None:
        admitted = await policies.admit(*asked)
    if isinstance(admitted, Refused):
        raise _policy_error(call, admitted, dialect)
    return admitted


def _policy_error(call: _Call, refused: Refused, dialect: Provider) -> ProxyError:
    call.policy_refusal = refused.reason
    call.services.metrics.policy_refusals.labels(refused.reason.value).inc()
    headers: dict[str, str] = {}
    if refused.rate is not None:
        headers.update(rate_limit_headers(dialect, refused.rate, call.services.clock))
    if refused.reason is PolicyRefusal.BUDGET:
        kind = ErrorKind.BUDGET_EXHAUSTED
        headers["x-should-retry"] = "false"  # both SDKs honour it: a budget does not come back
    elif refused.reason.retryable:
        kind = ErrorKind.RATE_LIMITED
        seconds = refused.retry_after_s or 1
        headers["retry-after"] = str(seconds)
        headers["retry-after-ms"] = str(seconds * 1000)
    else:
        kind = ErrorKind.FORBIDDEN
    return ProxyError(kind, refused.message, tuple(headers.items()))


def _passed_headers(upstream: UpstreamResponse, call: _Call, dialect: Provider) -> dict[str, str]:
    """The provider's response headers the client gets. A key with rate limits answers with its
    own; the provider's (the whole account's) go."""
    rate = call.ticket.rate if call.ticket is not None else None
    passed = response_headers(upstream.headers, rate_limits=rate is None)
    passed.setdefault("content-type", "application/json")
    if rate is not None:
        passed.update(rate_limit_headers(dialect, rate, call.services.clock))
    return passed


_CHAT_COMPLETIONS = "/v1/chat/completions"
_ENDPOINT_HINT = {
    Provider.OPENAI: "/v1/chat/completions, /v1/responses or /v1/embeddings",
    Provider.ANTHROPIC: "/v1/messages",
}


async def _answer_error(
    exchange: Exchange, dialect: Provider, error: ProxyError, allow: str | None = None
) -> None:
    headers = {"content-type": "application/json"}
    if allow is not None:
        headers["allow"] = allow
    if error.kind is ErrorKind.UNAVAILABLE:
        headers["retry-after"] = str(RETRY_AFTER_SECONDS)
    headers.update(error.headers)
    await exchange.respond(error.status, error_body(dialect, error.kind, error.message), headers)


async def _answer_json(exchange: Exchange, payload: dict[str, Any]) -> None:
    await exchange.respond(200, _json.encode(payload), {"content-type": "application/json"})


_json = msgspec.json.Encoder()


class _Forward:
    """POST endpoints: the body goes to the provider that serves its `model`."""

    def __init__(self, dialect: Provider) -> None:
        self.dialect = dialect

    async def __call__(self, exchange: Exchange, call: _Call) -> None:
        services = call.services
        verified = call.verified = await _verify(exchange, call)
        _check_access(call, verified)
        body = await _body(exchange, services.settings.proxy.max_body_bytes)
        model = _requested_model(body)
        # Before routing: a key limited to some models learns nothing of the project's others
        # (which exist, which speak which format).
        _check_model(call, verified, model)
        route = _route(await _routes(call, verified), model, self.dialect)
        # Only a model the project routes is recorded: the field is the client's to fill.
        call.model, call.price = model, route.price
        call.ticket = await _admit(call, verified, self.dialect)
        hide_usage = False
        if exchange.path == _CHAT_COMPLETIONS:
            asking = with_usage_asked(body)
            if asking is not None:
                body, hide_usage = asking, True
        call.provider = route.provider
        headers = forwarded_headers(exchange.headers)
        headers.update(
            upstream_auth_headers(
                route.provider,
                route.secret,
                exchange.headers,
                services.settings.proxy.default_anthropic_version,
            )
        )
        sent = time.perf_counter()
        upstream = await services.upstream.post(
            route.provider,
            services.upstream.target(route.provider, exchange.path, exchange.query),
            headers,
            body,
        )
        try:
            services.metrics.upstream_latency.labels(route.provider.value).observe(
                time.perf_counter() - sent
            )
            passed = _passed_headers(upstream, call, self.dialect)
            if upstream.content_type == "text/event-stream":
                relay = _relay(upstream, call, self.dialect, hide_usage)
                await exchange.stream(upstream.status, passed, relay)
            else:
                await _relay_whole(exchange, upstream, passed, call, route.provider)
        finally:
            # Also when the relay never started (the client left first): the connection and
            # its slot must not stay taken.
            upstream.close()


async def _body(exchange: Exchange, limit: int) -> bytes:
    try:
        return await exchange.body(limit)
    except BodyTooLarge:
        raise ProxyError(
            ErrorKind.TOO_LARGE, f"The request body is over the limit of {limit:,} bytes."
        ) from None


async def _relay_whole(
    exchange: Exchange,
    upstream: UpstreamResponse,
    headers: dict[str, str],
    call: _Call,
    provider: Provider,
) -> None:
    try:
        payload = await upstream.read()
    except UpstreamError as error:
        raise as_proxy_error(error, provider) from None
    finally:
        upstream.close()
    tokens = TokenCounter()
    tokens.feed(payload)
    call.upstream_answered(upstream.status, tokens)
    await exchange.respond(upstream.status, payload, headers)


async def _relay(
    upstream: UpstreamResponse, call: _Call, dialect: Provider, hide_usage: bool = False
) -> AsyncIterator[bytes]:
    """Pass server-sent events through as they arrive, counting tokens on the way.

    If the client goes away, the iteration is cancelled and closing the upstream response
    cancels the provider's request too. If the provider breaks off, the status is already sent:
    the stream ends with an error event in the provider's own format, which both SDKs raise as
    an error.
    """
    tokens = TokenCounter()
    status = upstream.status
    hider = UsageHider() if hide_usage else None
    try:
        async for chunk in upstream.chunks():
            tokens.feed(chunk)
            if hider is None:
                yield chunk
            elif shown := hider.feed(chunk):
                yield shown
        if hider is not None and (rest := hider.flush()):
            yield rest
    except UpstreamError:
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


async def _list_models(exchange: Exchange, call: _Call) -> None:
    verified = call.verified = await _verify(exchange, call)
    _check_access(call, verified)
    models = _allowed(verified, (await _routes(call, verified)).models)
    call.record(200)
    await _answer_json(exchange, _model_list(_dialect_of(exchange), models))


async def _retrieve_model(exchange: Exchange, call: _Call) -> None:
    model_id = exchange.path.removeprefix(_MODEL_PREFIX)
    verified = call.verified = await _verify(exchange, call)
    _check_access(call, verified)
    models = _allowed(verified, (await _routes(call, verified)).models)
    match = [m for m in models if m.id == model_id]
    if not match:
        raise ProxyError(ErrorKind.MODEL_NOT_FOUND, f"The model `{model_id}` does not exist.")
    call.record(200)
    await _answer_json(exchange, _model_entry(_dialect_of(exchange), match[0]))


def _allowed(verified: VerifiedKey, models: list[Model]) -> list[Model]:
    """The models the key may use: a key limited to some sees only those."""
    return [model for model in models if verified.policy.allows_model(model.id)]


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


Handler = Callable[[Exchange, _Call], Awaitable[None]]


@dataclass(frozen=True)
class _Endpoint:
    method: str
    # The route's name in metrics and usage records: a fixed set, never the raw path.
    template: str
    handler: Handler
    # The format it speaks; None: the caller's (both SDKs list models on the same path).
    dialect: Provider | None = None


_MODEL_PREFIX = "/v1/models/"


def _forwarding(path: str, dialect: Provider) -> _Endpoint:
    return _Endpoint("POST", path, _Forward(dialect), dialect)


_ENDPOINTS = {
    endpoint.template: endpoint
    for endpoint in (
        _forwarding("/v1/chat/completions", Provider.OPENAI),
        _forwarding("/v1/responses", Provider.OPENAI),
        _forwarding("/v1/embeddings", Provider.OPENAI),
        _forwarding("/v1/messages", Provider.ANTHROPIC),
        _Endpoint("GET", "/v1/models", _list_models),
    )
}
_RETRIEVE_MODEL = _Endpoint("GET", "/v1/models/{model}", _retrieve_model)


def _endpoint(path: str) -> _Endpoint | None:
    endpoint = _ENDPOINTS.get(path)
    if endpoint is None and path.startswith(_MODEL_PREFIX) and len(path) > len(_MODEL_PREFIX):
        return _RETRIEVE_MODEL
    return endpoint


def _dialect_of(exchange: Exchange) -> Provider:
    """The caller's format where the endpoint does not fix one: Anthropic's SDK always sends
    anthropic-version."""
    return Provider.ANTHROPIC if "anthropic-version" in exchange.headers else Provider.OPENAI


class ProxyApp:
    """The provider-compatible endpoints under /v1, as one ASGI app mounted in Litestar."""

    def __init__(self, services: Services) -> None:
        self._services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Mounted at /v1: the scope's path is the rest, with a trailing slash added.
        path = "/v1" + scope["path"].rstrip("/")
        exchange = Exchange(cast(HTTPScope, scope), receive, send, path)
        endpoint = _endpoint(path)
        if endpoint is not None:
            scope["path_template"] = endpoint.template
        call = _Call(
            services=self._services,
            endpoint=endpoint.template if endpoint else path,
            client_ip=exchange.client_ip,
            started=time.perf_counter(),
        )
        dialect = (endpoint and endpoint.dialect) or _dialect_of(exchange)
        try:
            if endpoint is None:
                raise ProxyError(ErrorKind.UNKNOWN_ENDPOINT, f"Unknown endpoint {path}.")
            if exchange.method != endpoint.method:
                message = f"{path} answers {endpoint.method} only."
                error = ProxyError(ErrorKind.METHOD_NOT_ALLOWED, message)
                await _answer_error(exchange, dialect, error, allow=endpoint.method)
                return
            await endpoint.handler(exchange, call)
        except ProxyError as error:
            call.record_error(error)
            await _answer_error(exchange, dialect, error)
        except ClientGone:
            log.info("client disconnected before sending its whole request on %s", path)
            call.settle(None)
        except Exception as error:
            failure = _failure(error, path)
            call.record_error(failure)
            if not exchange.started:
                await _answer_error(exchange, dialect, failure)


def _failure(error: Exception, path: str) -> ProxyError:
    """An unexpected failure as the caller is told: the database being unreachable is 503 (the
    SDKs retry it), anything else an internal error, logged with its traceback."""
    if db.is_unavailable(error):
        log.warning("database unavailable on %s: %s", path, type(error).__name__)
        return ProxyError(ErrorKind.UNAVAILABLE, DATABASE_UNAVAILABLE_MESSAGE)
    log.exception("proxy failure on %s", path)
    return ProxyError(ErrorKind.INTERNAL, "Internal error.")


def proxy_mount(services: Services) -> ASGIRouteHandler:
    return asgi("/v1", is_mount=True, copy_scope=False)(ProxyApp(services))
