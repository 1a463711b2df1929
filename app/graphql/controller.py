"""The Litestar controller serving /graphql (POST for operations, GET for GraphiQL)."""

from __future__ import annotations

import json
import re
from typing import Any

from cross_web import HTTPException
from litestar import Request, Response
from litestar.background_tasks import BackgroundTasks
from litestar.di import Provide
from strawberry.litestar import make_graphql_controller
from strawberry.litestar.controller import GraphQLResource

from app.console import graphiql_page
from app.graphql.context import context_getter
from app.graphql.key_usage import record_key_usage
from app.graphql.schema import build_schema
from app.settings import Settings


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


# Far more than any real request nests (variables of input objects and lists), far less than the
# interpreter's recursion limit, which a deeper document would hit while decoding or coercing.
MAX_JSON_DEPTH = 64
# 20 digits hold any 64-bit number; graphql-core refuses an Int beyond 32 bits anyway.
MAX_JSON_INT_DIGITS = 20


def decode_request_json(data: str | bytes) -> object:
    """A request body as JSON: an object (anything else is 400), neither too deep nor holding
    numbers too long to convert, refused with a message the client can act on."""
    if _json_depth_exceeds(data, MAX_JSON_DEPTH):
        raise HTTPException(400, f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels.")
    try:
        decoded = json.loads(data, parse_int=_bounded_int)
    except _NumberTooLong:
        raise HTTPException(
            400, f"The JSON body holds a number longer than {MAX_JSON_INT_DIGITS} digits."
        ) from None
    except RecursionError:
        raise HTTPException(400, "The JSON body nests too deeply.") from None
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(400, "Unable to parse request body as JSON") from None
    if not isinstance(decoded, dict | list):
        raise HTTPException(
            400, 'The request body must be a JSON object: {"query": ..., "variables": ...}.'
        )
    return decoded


class _NumberTooLong(ValueError):
    pass


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_JSON_INT_DIGITS:
        raise _NumberTooLong
    return int(text)


def _json_depth_exceeds(data: str | bytes, limit: int) -> bool:
    """Whether brackets nest deeper than `limit`: a scan that cannot recurse, visiting only
    brackets, quotes and backslashes (brackets inside strings are skipped)."""
    raw = data.encode() if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # the common case, without scanning
    depth = 0
    in_string = False
    for match in _JSON_STRUCTURE.finditer(raw):
        token = match.group()
        if token == b'"':
            in_string = not in_string
        elif in_string or token.startswith(b"\\"):
            continue  # inside a string, or an escape (the escaped byte is skipped with it)
        elif token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


# A backslash with the byte it escapes, a quote, or a bracket.
_JSON_STRUCTURE = re.compile(rb'\\.|["\[\]{}]', re.DOTALL)


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

        async def render_graphql_ide(self, request: Request[Any, Any, Any]) -> Response[str]:
            return graphiql_page(request)

        def decode_json(self, data: str | bytes) -> object:
            return decode_request_json(data)

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
