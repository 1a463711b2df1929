"""Labels show what they hold: invisible characters are refused, emoji are not."""

from __future__ import annotations

import pytest

from app.text import hidden_character
from tests.graphql_client import GraphQLClient, Session
from tests.helpers import (
    ADD_LLM_KEY,
    CREATE_KEY,
    CREATE_PROJECT,
    PASSWORD,
    SIGN_UP,
    UPDATE_NOTE,
    create_key,
    create_project,
    new_email,
    sign_up,
)


@pytest.mark.parametrize(
    "text",
    [
        "Production backend",
        "Équipe données – prod",  # noqa: RUF001 - an en dash is visible text
        "本番 バックエンド",
        "CI 🚀",
        "👩‍💻 dev laptop",  # zero-width joiner inside an emoji sequence
        "❤️‍🔥 fire",  # with a variation selector before the joiner
        "👍🏽 ok",  # skin tone modifier
        "🏴󠁧󠁢󠁳󠁣󠁴󠁿 Scotland",  # subdivision flag: tag characters after a black flag
        "ft:gpt-4.1:acme::abc",
    ],
)
def test_visible_text_passes(text: str) -> None:
    assert hidden_character(text) is None


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("Prod\u202ebackend", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("\ufeffProd", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
        ("Pro\u200bd", "U+200B ZERO WIDTH SPACE"),
        ("Prod\u2066x\u2069", "U+2066 LEFT-TO-RIGHT ISOLATE"),
        ("a\u200db", "U+200D ZERO WIDTH JOINER"),  # a joiner between letters joins nothing
        ("\u200d👍", "U+200D ZERO WIDTH JOINER"),
        ("note\U000e0041\U000e0042", "U+E0041 TAG LATIN CAPITAL LETTER A"),  # hidden text
        ("line\u2028break", "U+2028 LINE SEPARATOR"),
        ("\u3164", "U+3164 HANGUL FILLER"),
        ("soft\u00adhyphen", "U+00AD SOFT HYPHEN"),
        ("tab\there", "U+0009 CONTROL CHARACTER"),
    ],
)
def test_invisible_characters_are_named(text: str, named: str) -> None:
    assert hidden_character(text) == named


# --- Through the API: every label refuses what would not show -------------------------------


@pytest.fixture
async def owner_and_project(gql: GraphQLClient) -> tuple[Session, str]:
    owner = await sign_up(gql)
    return owner, (await create_project(gql, owner))["id"]


@pytest.mark.parametrize("hidden", ["\u202e", "\ufeff", "\u200b", "\U000e0041"])
async def test_labels_with_invisible_characters_are_refused(
    gql: GraphQLClient, owner_and_project: tuple[Session, str], hidden: str
) -> None:
    owner, project_id = owner_and_project
    attempts = {
        "createApiKey": (
            CREATE_KEY,
            {"projectId": project_id, "note": f"Prod{hidden}backend"},
            ["note"],
        ),
        "createProject": (CREATE_PROJECT, {"name": f"Acme{hidden}"}, ["name"]),
        "addLlmApiKey": (
            ADD_LLM_KEY,
            {
                "projectId": project_id,
                "provider": "OPENAI",
                "secretKey": "sk-test-0123456789abcdefWXYZ",
                "customModels": [f"ft:acme{hidden}"],
            },
            ["customModels", "0"],
        ),
    }
    for mutation, (query, fields, field) in attempts.items():
        data = await gql.execute(query, {"input": fields}, owner.access_token)

        errors = data[mutation]["userErrors"]
        assert [(e["field"], e["code"]) for e in errors] == [(field, "INVALID")], mutation
        assert "would not show" in errors[0]["message"]

    signed_up = await gql.execute(
        SIGN_UP,
        {"input": {"email": new_email(), "password": PASSWORD, "name": f"Ada{hidden}"}},
    )
    assert [e["field"] for e in signed_up["signUp"]["userErrors"]] == [["name"]]


async def test_a_note_with_emoji_is_kept_as_written(
    gql: GraphQLClient, owner_and_project: tuple[Session, str]
) -> None:
    owner, project_id = owner_and_project

    key = await create_key(gql, owner, project_id, note="👩‍💻 laptop 🏴󠁧󠁢󠁳󠁣󠁴󠁿")

    assert key["note"] == "👩‍💻 laptop 🏴󠁧󠁢󠁳󠁣󠁴󠁿"


async def test_renaming_a_key_to_a_disguised_note_is_refused(
    gql: GraphQLClient, owner_and_project: tuple[Session, str]
) -> None:
    owner, project_id = owner_and_project
    key = await create_key(gql, owner, project_id, note="Staging")

    data = await gql.execute(
        UPDATE_NOTE, {"input": {"id": key["id"], "note": "\u202egniddorP"}}, owner.access_token
    )

    assert data["updateApiKeyNote"]["userErrors"][0]["field"] == ["note"]
