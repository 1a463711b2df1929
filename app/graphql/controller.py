"""The Litestar controller serving /graphql (POST for operations, GET for GraphiQL)."""

from __future__ import annotations

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
            # Malformed bodies get a GraphQL-shaped JSON error rather than plain text.
            try:
                response: Response[GraphQLResource | Any] = await self.run(
                    request, context=context, root_value=root_value
                )
                return response
            except HTTPException as error:
                return Response(
                    {"errors": [{"message": error.reason, "extensions": {"code": "BAD_REQUEST"}}]},
                    status_code=error.status_code,
                )

    return GraphQLController
