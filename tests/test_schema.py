"""schema.graphql is generated from the code; frontends run codegen on it, so it must not drift."""

from __future__ import annotations

from pathlib import Path

from app.graphql.schema import schema

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


def test_schema_file_matches_the_code() -> None:
    assert SCHEMA_FILE.read_text() == schema.as_str() + "\n", (
        "schema.graphql is out of date: run `make schema` and commit the result"
    )


def test_every_mutation_takes_one_input_and_returns_user_errors() -> None:
    mutation = schema.get_type_by_name("Mutation")
    assert mutation is not None

    for field in mutation.fields:  # type: ignore[attr-defined]
        assert [argument.python_name for argument in field.arguments] == ["input"], field.name
        payload = schema.get_type_by_name(field.type.__name__)  # type: ignore[union-attr]
        assert payload is not None
        assert "user_errors" in {f.python_name for f in payload.fields}, field.name  # type: ignore[attr-defined]
