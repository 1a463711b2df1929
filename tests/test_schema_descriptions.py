"""schema.graphql is the frontend's reference: everything in it says what it is, and every
mutation names the userError codes it can return."""

from __future__ import annotations

import re
from collections.abc import Iterator

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    specified_scalar_types,
)

from app.errors import ErrorCode
from app.graphql.schema import schema

# A mutation's description ends with "Errors: CODE (when), CODE, ...".
ERRORS_LIST = re.compile(r"Errors: (?P<codes>.+)$", re.DOTALL)
PARENTHESES = re.compile(r"\([^()]*\)")


def graphql_schema() -> GraphQLSchema:
    return schema._schema


def own_types() -> Iterator[GraphQLNamedType]:
    """Every named type of the schema but introspection's and the built-in scalars."""
    for name, named in sorted(graphql_schema().type_map.items()):
        if not name.startswith("__") and name not in specified_scalar_types:
            yield named


def undescribed() -> Iterator[str]:
    for named in own_types():
        if not _described(named.description):
            yield f"type {named.name}"
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in named.fields.items():
                if not _described(field.description):
                    yield f"field {named.name}.{field_name}"
                for argument_name, argument in field.args.items():
                    if not _described(argument.description):
                        yield f"argument {named.name}.{field_name}({argument_name})"
        elif isinstance(named, GraphQLInputObjectType):
            for field_name, field in named.fields.items():
                if not _described(field.description):
                    yield f"input field {named.name}.{field_name}"
        elif isinstance(named, GraphQLEnumType):
            for value_name, value in named.values.items():
                if not _described(value.description):
                    yield f"enum value {named.name}.{value_name}"


def _described(description: str | None) -> bool:
    return bool(description and description.strip())


def error_codes_named(description: str) -> list[str]:
    """The codes listed after "Errors:", each one's explanation in parentheses left out."""
    found = ERRORS_LIST.search(description)
    if found is None:
        return []
    listed = found.group("codes")
    while PARENTHESES.search(listed):
        listed = PARENTHESES.sub("", listed)
    return [code.strip() for code in listed.strip().rstrip(".").split(",") if code.strip()]


def test_every_type_field_argument_and_enum_value_is_described() -> None:
    missing = list(undescribed())

    assert not missing, "describe these in the code, then `make schema`:\n" + "\n".join(missing)


def test_every_mutation_names_the_user_error_codes_it_can_return() -> None:
    mutation = graphql_schema().mutation_type
    assert mutation is not None
    known = {code.value for code in ErrorCode}
    problems = []

    for name, field in mutation.fields.items():
        codes = error_codes_named(field.description or "")
        if not codes:
            problems.append(f"{name}: no 'Errors: CODE, ...' at the end of its description")
        unknown = [code for code in codes if code not in known]
        if unknown:
            problems.append(f"{name}: {', '.join(unknown)} not in UserErrorCode")

    assert not problems, "\n".join(problems)


def test_error_codes_are_read_from_the_errors_list_only() -> None:
    description = (
        "Remove a member (OWNER only). Errors: NOT_FOUND (the project, or not a member), "
        "FORBIDDEN (not an OWNER), LAST_OWNER."
    )

    assert error_codes_named(description) == ["NOT_FOUND", "FORBIDDEN", "LAST_OWNER"]


def test_the_date_time_and_json_scalars_say_their_format() -> None:
    for name in ("DateTime", "JSON"):
        scalar = graphql_schema().get_type(name)
        assert isinstance(scalar, GraphQLScalarType), name
        assert scalar.specified_by_url, f"{name} has no @specifiedBy"
        assert _described(scalar.description), f"{name} has no description"
