"""DateTime: ISO 8601 with an explicit offset in, UTC out.

A naive time ("2027-01-01T00:00:00") is ambiguous across servers and clients, so it is rejected
rather than guessed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import strawberry
from graphql import (
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    StringValueNode,
    ValidationRule,
    get_nullable_type,
    get_operation_ast,
    is_input_type,
    is_non_null_type,
    is_scalar_type,
    print_ast,
    type_from_ast,
)
from strawberry.extensions import SchemaExtension

DATETIME_HELP = "Use ISO 8601 with a UTC offset, for example 2027-01-31T09:00:00Z."


# Far enough for any expiry or report, and far from datetime's limits, so date arithmetic on an
# accepted value never overflows.
MIN_YEAR, MAX_YEAR = 1970, 9000


def parse_datetime(value: object) -> datetime | None:
    """Raises GraphQLError: a plain ValueError from a literal in the query would be masked."""
    if not isinstance(value, str):
        raise _invalid(f"DateTime must be a string. {DATETIME_HELP}")
    if not value.strip():
        # Forms send "" for "no date" (e.g. a key that never expires): the same as null.
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _invalid(f"Not a valid DateTime. {DATETIME_HELP}") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise _invalid(f"DateTime needs a UTC offset. {DATETIME_HELP}")
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise _invalid(f"DateTime must fall between the years {MIN_YEAR} and {MAX_YEAR}.")
    return parsed.astimezone(UTC)


def _invalid(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": BAD_USER_INPUT})


BAD_USER_INPUT = "BAD_USER_INPUT"


class NoNullInNonNullLiterals(ValidationRule):
    """A literal a scalar reads as null (`from: ""`) where the argument or field is non-null.

    A blank DateTime is null (forms send "" for "no expiry"), and graphql-core refuses null for a
    non-null variable, but not when a literal's parsed value is null. Refused here, with the
    message a variable gets: literals and variables behave the same.
    """

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        expected = self.context.get_input_type()
        if not is_non_null_type(expected):
            return
        scalar = get_nullable_type(expected)
        if not is_scalar_type(scalar):
            return
        try:
            value = scalar.parse_literal(node)
        except Exception:
            return
        if value is None:
            self.report_error(
                GraphQLError(
                    f"Expected a value of non-null type '{expected}', found {print_ast(node)}.",
                    node,
                    extensions={"code": BAD_USER_INPUT},
                )
            )


class NoNullInNonNullVariables(SchemaExtension):
    """The same for variables: graphql-core refuses a variable sent as null where it is
    non-null, but lets through one a scalar reads as null (`"start": ""`). Checked once the
    document is valid, before anything runs; input objects and lists are walked too."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        operation = get_operation_ast(document, context.operation_name) if document else None
        variables = context.variables or {}
        for definition in (operation.variable_definitions or ()) if operation else ():
            name = definition.variable.name.value
            expected = type_from_ast(context.schema._schema, definition.type)
            if is_input_type(expected) and name in variables:
                problem = _null_in_non_null(expected, variables[name])
                if problem is not None:
                    raise GraphQLError(
                        f"Variable '${name}' has invalid value: {problem}",
                        definition,
                        extensions={"code": BAD_USER_INPUT},
                    )
        yield


def _null_in_non_null(expected: GraphQLInputType, value: Any) -> str | None:
    """What is wrong where a non-null position of `expected` would read as null, or None."""
    if value is None:
        return None  # graphql-core refuses nulls it can see
    nullable = get_nullable_type(expected)
    if isinstance(nullable, GraphQLList):
        items = value if isinstance(value, list) else [value]
        return next((p for item in items if (p := _null_in_non_null(nullable.of_type, item))), None)
    if isinstance(nullable, GraphQLInputObjectType):
        if not isinstance(value, dict):
            return None  # graphql-core reports the wrong shape
        return next(
            (
                p
                for field_name, field in nullable.fields.items()
                if field_name in value and (p := _null_in_non_null(field.type, value[field_name]))
            ),
            None,
        )
    if is_non_null_type(expected) and is_scalar_type(nullable):
        try:
            parsed = nullable.parse_value(value)
        except Exception:
            return None
        if parsed is None:
            return f"Expected a value of non-null type '{expected}', found {value!r}."
    return None


def serialize_datetime(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# Mapped onto `datetime` in the schema config, so fields are annotated with plain `datetime`.
DATETIME_SCALAR = strawberry.scalar(
    name="DateTime",
    description="An instant: an ISO 8601 date and time with a UTC offset (`Z` or `±hh:mm`), "
    "e.g. 2027-01-31T09:00:00Z or 2027-01-31T10:00:00+01:00; RFC 3339 is the safe subset. "
    f"Years {MIN_YEAR}-{MAX_YEAR}. Refused with BAD_USER_INPUT: no offset "
    '(2027-01-31T09:00:00) or a date alone. A blank string "" reads as null (refused where '
    "a value is required). Always returned in UTC with `Z`, with microseconds only when not "
    "zero (2027-01-31T09:00:00.250000Z).",
    specified_by_url="https://datatracker.ietf.org/doc/html/rfc3339#section-5.6",
    serialize=serialize_datetime,
    parse_value=parse_datetime,
)
