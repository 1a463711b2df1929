"""How domain errors reach GraphQL clients.

Expected failures of a mutation become `userErrors` in its payload; expected failures of a query
field become a GraphQL error whose `extensions.code` names them. Anything else is a crash and is
masked as "Unexpected error." with code INTERNAL_SERVER_ERROR, its details kept in the server log.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import strawberry
from graphql import GraphQLError

from app.errors import DomainError, ErrorCode

log = logging.getLogger(__name__)
T = TypeVar("T")

UserErrorCode = strawberry.enum(ErrorCode, name="UserErrorCode")


@strawberry.type(description="An expected problem with a mutation's input or the caller's rights.")
class UserError:
    field: list[str] | None = strawberry.field(
        description='Path to the input field at fault, e.g. ["email"]; null for the whole input.'
    )
    message: str
    code: UserErrorCode  # type: ignore[valid-type]


def user_errors(error: DomainError) -> list[UserError]:
    return [
        UserError(field=list(problem.field) or None, message=problem.message, code=problem.code)
        for problem in error.problems
    ]


async def attempt(action: Callable[[], Awaitable[T]]) -> tuple[T | None, list[UserError]]:
    """Run a service call for a mutation: its result, or the userErrors it failed with."""
    try:
        return await action(), []
    except DomainError as error:
        return None, user_errors(error)


class QueryError(GraphQLError):
    """A domain failure inside a query field, e.g. an invalid `first`: its code, and the
    argument at fault when there is one."""

    def __init__(self, error: DomainError) -> None:
        extensions: dict[str, object] = {"code": error.code.value}
        fields = [list(problem.field) for problem in error.problems if problem.field]
        if fields:
            extensions["field"] = fields[0]
        super().__init__(error.message, extensions=extensions)


def is_expected(error: GraphQLError) -> bool:
    original = error.original_error
    return original is None or isinstance(original, GraphQLError | DomainError)


MASKED_MESSAGE = "Unexpected error."


def public_error(error: GraphQLError) -> GraphQLError:
    """The error as a client may see it, whatever phase raised it (parsing, the cost check,
    validation, variables, execution): a crash is masked, its details stay in the server log;
    an error wrapped around one of ours (a variable's scalar refusing its value) keeps our
    `extensions.code`."""
    if not is_expected(error):
        return GraphQLError(
            MASKED_MESSAGE,
            nodes=error.nodes,
            path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR"},
        )
    original = error.original_error
    if not error.extensions and isinstance(original, GraphQLError) and original.extensions:
        return GraphQLError(
            error.message, nodes=error.nodes, path=error.path, extensions=original.extensions
        )
    return error
