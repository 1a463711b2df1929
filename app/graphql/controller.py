"""The Litestar controller serving /graphql (POST for operations, GET for GraphiQL)."""

from __future__ import annotations

import re
from typing import Any

from cross_web import HTTPException
from litestar import Request, Response
from litestar.background_tasks import BackgroundTasks
from litestar.di import Provide
from strawberry.litestar import make_graphql_controller
from strawberry.litestar.controller import GraphQLResource

from app.graphql.context import context_getter
from app.graphql.schema import build_schema
from app.settings import Settings
from app.usage.middleware import record_key_usage


def _response_getter() -> Response[Any]:
    return Response({}, background=BackgroundTasks([]))


UNSTORABLE_TEXT = "Strings cannot contain NUL characters or unpaired UTF-16 surrogates."
# JSON escapes of NUL and of surrogates that are not part of a pair (a valid pair is a high
# surrogate followed by a low one). The GraphQL escape inside a query string shows up the same way.
_UNSTORABLE = re.compile(
    rb"\x00|\\u0000"
    rb"|\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


def has_unstorable_text(body: bytes) -> bool:
    """Text neither database can store (PostgreSQL refuses NUL; surrogates are not UTF-8)."""
    if b"\\u" not in body and b"\x00" not in body:
        return False  # the common case, without running the expression
    return _UNSTORABLE.search(body) is not None


def _bad_request(message: str, status_code: int = 400) -> Response[Any]:
    return Response(
        {"errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]},
        status_code=status_code,
    )


def graphql_controller(settings: Settings) -> type:
    schema = build_schema(settings.graphql, introspection=not settings.is_production)
    base: Any = make_graphql_controller(
        schema,
        path="/graphql",
        context_getter=context_getter,
        graphql_ide=None if settings.is_production else "graphiql",
        # Queries over GET would put variables (and so secrets) in URLs and access logs.
        allow_queries_via_get=False,
    )

    class GraphQLController(base):  # type: ignore[misc]
        # Strawberry builds the sub-response in a worker thread; it is a trivial object, and
        # the thread hop costs more than everything else a small query does.
        middleware = [record_key_usage]
        dependencies = {
            **base.dependencies,
            "response": Provide(_response_getter, sync_to_thread=False),
        }

        async def execute_request(
            self, request: Request[Any, Any, Any], context: Any, root_value: Any
        ) -> Response[GraphQLResource | Any]:
            if has_unstorable_text(await request.body()):
                return _bad_request(UNSTORABLE_TEXT)
            # Malformed bodies get a GraphQL-shaped JSON error rather than plain text.
            try:
                response: Response[GraphQLResource | Any] = await self.run(
                    request, context=context, root_value=root_value
                )
                return response
            except HTTPException as error:
                return _bad_request(error.reason, error.status_code)

    return GraphQLController
