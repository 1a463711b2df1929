"""The application: routes, lifespan and the HTTP edge's error mapping."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from litestar import Litestar, MediaType, Request, Response, get
from litestar.config.cors import CORSConfig
from litestar.exceptions import HTTPException
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from app import db
from app.accounts.http import session_routes
from app.accounts.sessions import open_session_lookup
from app.api_keys.lookup import open_key_lookup
from app.clock import Clock, SystemClock
from app.console import console_routes
from app.graphql.controller import graphql_controller
from app.http_errors import DATABASE_UNAVAILABLE_MESSAGE, RETRY_AFTER_SECONDS, is_client_gone
from app.leaks.github import github_secret_scanning
from app.observability import observe_requests
from app.policies.enforcer import AccessRefused
from app.proxy.endpoints import proxy_mount
from app.security.guard import BearerRejected
from app.security.passwords import PasswordHasher
from app.security.refusals import PUBLIC_MESSAGE
from app.services import Services
from app.settings import Settings
from app.usage.recorder import UsageRecord

log = logging.getLogger(__name__)

_EDGE_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE"}


def create_app(
    settings: Settings, *, clock: Clock | None = None, hasher: PasswordHasher | None = None
) -> Litestar:
    services = Services.build(settings, clock or SystemClock(), hasher)

    @asynccontextmanager
    async def database(app: Litestar) -> AsyncIterator[None]:
        # An exit stack: whatever started is stopped, in reverse order, even if a step fails.
        async with AsyncExitStack() as started:
            db.activate(db.make_engine(settings.database))
            await db.start(pool_max_size=settings.database.pool_max_size)
            started.push_async_callback(db.stop)
            # Refuse to serve when stored secrets need a key the keyring lacks.
            await services.llm_keys.check_keyring()
            await services.webhooks.check_keyring()
            keys = open_key_lookup()
            started.push_async_callback(keys.close)
            services.api_key_authenticator.attach(keys)
            started.callback(services.api_key_authenticator.attach, None)
            sessions = open_session_lookup()
            started.push_async_callback(sessions.close)
            services.access_token_authenticator.attach(sessions)
            started.callback(services.access_token_authenticator.attach, None)
            started.push_async_callback(services.policies.counters.close)
            services.last_use.start()
            started.push_async_callback(services.last_use.stop)
            if services.usage_writer is not None:
                # Registered first, so closed last: after the recorder's final flush.
                started.push_async_callback(services.usage_writer.close)
            services.usage_recorder.start()
            started.push_async_callback(services.usage_recorder.stop)
            started.push_async_callback(services.upstream.stop)
            if settings.webhooks.enabled:
                services.webhook_dispatcher.start()
                started.push_async_callback(services.webhook_dispatcher.stop)
            started.callback(services.routes.clear)
            yield

    app = Litestar(
        route_handlers=[
            graphql_controller(settings),
            proxy_mount(services),
            healthz,
            readyz,
            metrics,
            *session_routes,
            github_secret_scanning,
            *console_routes(settings.console_dir),
        ],
        # The API is GraphQL (schema.graphql); Litestar's OpenAPI pages would only describe
        # health checks, and they load their scripts from a CDN.
        openapi_config=None,
        lifespan=[database],
        state=_state(services),
        exception_handlers={
            BearerRejected: _bearer_rejected,
            AccessRefused: _access_refused,
            HTTPException: _http_error,
            Exception: _unexpected_error,
        },
        # Browser code may read the request id, to quote it in a bug report.
        cors_config=CORSConfig(
            allow_origins=list(settings.cors_origins), expose_headers=["x-request-id"]
        )
        if settings.cors_origins
        else None,
        request_max_body_size=settings.graphql.max_body_bytes,
        # Logging is configured once by the CLI (JSON lines, redaction); Litestar's default
        # configuration would replace it.
        logging_config=None,
        debug=False,
    )
    # Around the router rather than as route middleware, which Litestar runs only for requests a
    # route answers: request ids and request metrics cover 404s and 405s too. (Litestar wraps
    # its own CORS and OpenTelemetry middleware around the router the same way.)
    app.asgi_handler = observe_requests(services.metrics)(app.asgi_handler)
    return app


def _state(services: Services) -> Any:
    from litestar.datastructures import State

    return State({"services": services})


@get("/healthz", media_type=MediaType.JSON, sync_to_thread=False)
def healthz() -> dict[str, str]:
    """The process is up and serving."""
    return {"status": "ok"}


@get("/readyz", media_type=MediaType.JSON)
async def readyz() -> Response[dict[str, str]]:
    """The process can serve requests: its database answers."""
    if await db.ping():
        return Response({"status": "ok"})
    return Response({"status": "database unavailable"}, status_code=HTTP_503_SERVICE_UNAVAILABLE)


@get("/metrics", media_type="text/plain; version=0.0.4", sync_to_thread=False)
def metrics(request: Request[Any, Any, Any]) -> bytes:
    """Prometheus text format; no label carries a secret, a key id or an address."""
    services: Services = request.app.state.services
    return services.metrics.render()


def _http_error(request: Request[Any, Any, Any], error: HTTPException) -> Response[Any]:
    """Errors at the HTTP edge (413, 404, 405, ...) in the same shape as GraphQL errors."""
    code = _EDGE_CODES.get(error.status_code, "BAD_REQUEST")
    if is_client_gone(error):
        log.info("client disconnected before sending its whole request on %s", request.url.path)
        return Response(None, status_code=HTTP_400_BAD_REQUEST)
    if error.status_code >= 500:
        log.error("HTTP %s on %s", error.status_code, request.url.path)
        code = "INTERNAL_SERVER_ERROR"
    return Response(
        _errors(error.detail, code), status_code=error.status_code, headers=error.headers
    )


def _unexpected_error(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    """What no route handled: the database being unreachable is 503 with Retry-After (the
    request was fine; retry shortly), anything else a 500 whose details stay in the log."""
    if db.is_unavailable(error):
        log.warning("database unavailable on %s: %s", request.url.path, type(error).__name__)
        return Response(
            _errors(DATABASE_UNAVAILABLE_MESSAGE, "SERVICE_UNAVAILABLE"),
            status_code=HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    log.error("unexpected error on %s", request.url.path, exc_info=error)
    return Response(_errors("Unexpected error.", "INTERNAL_SERVER_ERROR"), status_code=500)


def _bearer_rejected(request: Request[Any, Any, Any], error: BearerRejected) -> Response[Any]:
    # The reason goes to the log only; clients learn nothing about which check failed.
    log.info("rejected bearer credential on %s: %s", request.url.path, error.reason)
    request.app.state.services.metrics.auth_failed(error.refusal)
    return Response(
        _errors(PUBLIC_MESSAGE, "UNAUTHENTICATED"),
        status_code=HTTP_401_UNAUTHORIZED,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def _access_refused(request: Request[Any, Any, Any], error: AccessRefused) -> Response[Any]:
    """A key whose policy does not let it read the API (scope READ, or its address): 403,
    counted in the metrics and in the key's usage."""
    services: Services = request.app.state.services
    reason = error.refused.reason
    services.metrics.policy_refusals.labels(reason.value).inc()
    services.usage_recorder.record(
        UsageRecord(
            project_id=error.project_id,
            api_key_id=error.key_id,
            endpoint=request.url.path,
            status=HTTP_403_FORBIDDEN,
            latency_ms=0,
            at=services.clock.now(),
            client_ip=request.client.host if request.client else None,
            policy_refusal=reason.value,
        )
    )
    return Response(_errors(error.refused.message, "FORBIDDEN"), status_code=HTTP_403_FORBIDDEN)


def _errors(message: str, code: str) -> dict[str, Any]:
    """An error in the GraphQL response shape, which every answer of the HTTP edge uses."""
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


__all__ = ["create_app"]
