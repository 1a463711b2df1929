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
from strawberry.extensions import MaskErrors

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
    """A domain failure inside a query field, e.g. an invalid `first`."""

    def __init__(self, error: DomainError) -> None:
        super().__init__(error.message, extensions={"code": error.code.value})


def is_expected(error: GraphQLError) -> bool:
    original = error.original_error
    return original is None or isinstance(original, GraphQLError | DomainError)


class MaskUnexpectedErrors(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda error: not is_expected(error))

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        masked.extensions = {"code": "INTERNAL_SERVER_ERROR"}
        return masked
