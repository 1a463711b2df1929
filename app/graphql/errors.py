"""How domain errors reach GraphQL clients.

Expected failures of a mutation become `userErrors` in its payload; expected failures of a query
field become a GraphQL error whose `extensions.code` names them. Anything else is a crash and is
masked as "Unexpected error." with code INTERNAL_SERVER_ERROR, its details kept in the server log.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry
from graphql import GraphQLError

from app.errors import DomainError, ErrorCode
from app.graphql.cost import list_bound
from app.graphql.enums import described_enum

log = logging.getLogger(__name__)
T = TypeVar("T")

UserErrorCode = described_enum(
    ErrorCode,
    name="UserErrorCode",
    description="Why a mutation refused its input; each mutation lists the codes it can return.",
    values={
        ErrorCode.INVALID: "An input field is wrong (missing, out of range, badly formed); "
        "`field` names it, and each wrong field gets its own error.",
        ErrorCode.NOT_FOUND: "The object does not exist for the caller: unknown, malformed, "
        "deleted, or another project's (these are never told apart).",
        ErrorCode.FORBIDDEN: "The caller can see the project but their role may not do this; "
        "a project API key has no role and may do none of it.",
        ErrorCode.ALREADY_EXISTS: "A uniqueness rule would break: an account's email, a "
        "project's member, a project's one provider key per provider.",
        ErrorCode.INVALID_CREDENTIALS: "The email or the password is wrong (the same answer "
        "for either).",
        ErrorCode.TOO_MANY_ATTEMPTS: "Too many logIn attempts lately for the account or the "
        "client address (by default 10 per account and 100 per address in 15 minutes); the "
        "message says when to try again.",
        ErrorCode.INVALID_REFRESH_TOKEN: "The refresh token is unknown, expired, revoked, "
        "another person's or already used (a reuse ends its whole session).",
        ErrorCode.LAST_OWNER: "The change would leave the project without an OWNER.",
        ErrorCode.UNAUTHENTICATED: "The mutation needs a signed-in person and was called with "
        "a project API key. With no token at all, mutations fail with a top-level error of "
        "this code instead.",
    },
)


# At most one problem per input field and list item: a mutation's lists hold at most a few
# hundred items (a provider key's 100 custom models, a policy's 100 models and 100 addresses).
MAX_USER_ERRORS = 250
# An input field's path: the field, and the index of an item in its list (or a nested field).
MAX_FIELD_PATH = 4


@strawberry.type(description="An expected problem with a mutation's input or the caller's rights.")
class UserError:
    field: list[str] | None = strawberry.field(
        description='Path to the input field at fault, e.g. ["email"] or ["customModels", "2"]; '
        "null for the whole input.",
        metadata=list_bound(MAX_FIELD_PATH),
    )
    message: str = strawberry.field(
        description="What is wrong and how to fix it, in English, for people to read."
    )
    code: UserErrorCode = strawberry.field(  # type: ignore[valid-type]
        description="What kind of problem it is, for code to branch on."
    )


def user_errors_field() -> Any:
    """A payload's `userErrors`: empty when the mutation did what it was asked."""
    return strawberry.field(
        description="Every problem found with the input or the caller's rights; empty on success.",
        metadata=list_bound(MAX_USER_ERRORS),
    )


# A mutation's one argument: `input: Annotated[XxxInput, MutationInput]`.
MutationInput = strawberry.argument(description="What to do; each field says what it accepts.")


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
    if not error.extensions and (original is None or isinstance(original, GraphQLError)):
        # graphql-core's own refusals carry no code; clients branch on one.
        return GraphQLError(
            error.message, nodes=error.nodes, path=error.path, extensions={"code": _code_of(error)}
        )
    return error


def _code_of(error: GraphQLError) -> str:
    """The code of a refusal graphql-core made: the document did not parse, a variable's value
    did not fit its type, or the operation does not fit the schema."""
    if error.message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if error.message.startswith("Variable '$"):
        return "BAD_USER_INPUT"
    return "GRAPHQL_VALIDATION_FAILED"
