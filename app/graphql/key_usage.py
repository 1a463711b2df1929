"""Counting GraphQL requests made with a project API key (the proxy records its own)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

from app.security.principal import Principal, PrincipalKind
from app.usage.recorder import UsageRecord

# Where the GraphQL context getter leaves the caller for this middleware to read afterwards.
PRINCIPAL_SCOPE_KEY = "traylinx.principal"
# Set when the operation ended in GraphQL errors: HTTP 200, but not a success.
REJECTED_SCOPE_KEY = "traylinx.rejected"


class MarkRejectedOperations(SchemaExtension):
    """Tells the usage middleware when an operation ended in errors (Strawberry extension)."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        request = getattr(self.execution_context.context, "request", None)
        if result is not None and result.errors and request is not None:
            request.scope[REJECTED_SCOPE_KEY] = True


def record_key_usage(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, capture_status)
        finally:
            principal = scope.get(PRINCIPAL_SCOPE_KEY)
            if isinstance(principal, Principal) and principal.kind is PrincipalKind.PROJECT:
                _record(scope, principal, status, started)

    return middleware


def _record(scope: Scope, principal: Principal, status: int, started: float) -> None:
    services: Any = scope["app"].state.services
    if principal.project_id is None or principal.api_key_id is None:
        return
    services.usage_recorder.record(
        UsageRecord(
            project_id=principal.project_id,
            api_key_id=principal.api_key_id,
            endpoint=scope["path"],
            status=status,
            latency_ms=int((time.perf_counter() - started) * 1000),
            at=services.clock.now(),
            client_ip=principal.client_ip,
            rejected=bool(scope.get(REJECTED_SCOPE_KEY)),
        )
    )
