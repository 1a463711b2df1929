"""LLM provider keys: add, update in place, delete, rights, validation and the model catalog."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar

from app.llm_keys.catalog import ModelCatalog, Provider
from app.services import Services
from app.settings import Settings
from tests.conftest import serving
from tests.graphql_client import GraphQLClient, Session
from tests.helpers import (
    ADD_LLM_KEY,
    DELETE_LLM_KEY,
    LLM_KEYS,
    UPDATE_LLM_KEY,
    add_llm_key,
    add_member,
    create_key,
    create_project,
    remove_right_after_rights_are_read,
    sign_up,
)

SECRET = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789a1B2"
AUDIT = """
query Audit($id: ID!) {
  project(id: $id) { auditEvents { edges { node { action targetId details } } } }
}
"""


async def _owner_with_project(gql: GraphQLClient) -> tuple[Session, dict[str, Any]]:
    owner = await sign_up(gql)
    return owner, await create_project(gql, owner)


def _default_ids(provider: Provider) -> list[str]:
    return list(ModelCatalog.load().defaults(provider))


async def test_add_stores_the_key_and_shows_only_a_hint(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)

    key = await add_llm_key(
        gql, owner, project["id"], secret_key=SECRET, customModels=["ft:gpt-4o:acme"]
    )

    assert key["provider"] == "OPENAI"
    assert key["secretHint"] == "…a1B2"
    assert key["withDefaultModels"] is True
    assert key["customModels"] == ["ft:gpt-4o:acme"]
    assert key["createdBy"] == {"id": owner.user_id}
    assert [m["id"] for m in key["models"]] == [*_default_ids(Provider.OPENAI), "ft:gpt-4o:acme"]
    assert key["models"][-1] == {"id": "ft:gpt-4o:acme", "provider": "OPENAI", "source": "CUSTOM"}


async def test_the_secret_is_never_returned(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)
    key = await add_llm_key(gql, owner, project["id"], secret_key=SECRET)

    added_again = await gql.post(
        ADD_LLM_KEY,
        {"input": {"projectId": project["id"], "provider": "OPENAI", "secretKey": SECRET}},
        owner.access_token,
    )
    updated = await gql.post(
        UPDATE_LLM_KEY, {"input": {"id": key["id"], "secretKey": SECRET + "x"}}, owner.access_token
    )
    listed = await gql.post(LLM_KEYS, {"id": project["id"]}, owner.access_token)
    audit = await gql.post(AUDIT, {"id": project["id"]}, owner.access_token)

    for response in (added_again, updated, listed, audit):
        assert SECRET not in response.text
        assert SECRET[:-4] not in response.text


async def test_a_second_key_for_the_same_provider_points_to_update(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)
    await add_llm_key(gql, owner, project["id"])

    data = await gql.execute(
        ADD_LLM_KEY,
        {"input": {"projectId": project["id"], "provider": "OPENAI", "secretKey": SECRET}},
        owner.access_token,
    )

    error = data["addLlmApiKey"]["userErrors"][0]
    assert error["code"] == "ALREADY_EXISTS"
    assert "updateLlmApiKey" in error["message"]


async def test_two_adds_racing_for_one_provider_store_one_key(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)
    variables = {
        "input": {"projectId": project["id"], "provider": "ANTHROPIC", "secretKey": SECRET}
    }

    results = await asyncio.gather(
        *(gql.execute(ADD_LLM_KEY, variables, owner.access_token) for _ in range(5))
    )

    codes = sorted(
        r["addLlmApiKey"]["userErrors"][0]["code"] if r["addLlmApiKey"]["userErrors"] else "OK"
        for r in results
    )
    assert codes == ["ALREADY_EXISTS"] * 4 + ["OK"]


async def test_one_key_per_provider_and_both_providers_side_by_side(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)
    await add_llm_key(gql, owner, project["id"], provider="ANTHROPIC")
    await add_llm_key(gql, owner, project["id"], provider="OPENAI")

    data = await gql.execute(LLM_KEYS, {"id": project["id"]}, owner.access_token)

    assert [k["provider"] for k in data["project"]["llmApiKeys"]] == ["OPENAI", "ANTHROPIC"]


async def test_update_replaces_the_secret_in_place(gql: GraphQLClient, app: Litestar) -> None:
    owner, project = await _owner_with_project(gql)
    key = await add_llm_key(gql, owner, project["id"], secret_key=SECRET)
    new_secret = "sk-proj-rotated-secret-value-9Z8y"

    data = await gql.execute(
        UPDATE_LLM_KEY, {"input": {"id": key["id"], "secretKey": new_secret}}, owner.access_token
    )

    updated = data["updateLlmApiKey"]["llmApiKey"]
    assert data["updateLlmApiKey"]["userErrors"] == []
    assert updated["id"] == key["id"]
    assert updated["secretHint"] == "…9Z8y"
    assert updated["customModels"] == key["customModels"]
    services: Services = app.state.services
    assert await services.llm_keys.reveal_secret(uuid.UUID(key["id"])) == new_secret


async def test_update_leaves_absent_fields_as_they_are(gql: GraphQLClient, app: Litestar) -> None:
    owner, project = await _owner_with_project(gql)
    key = await add_llm_key(gql, owner, project["id"], secret_key=SECRET, customModels=["a-model"])

    data = await gql.execute(
        UPDATE_LLM_KEY, {"input": {"id": key["id"], "withDefaultModels": False}}, owner.access_token
    )

    updated = data["updateLlmApiKey"]["llmApiKey"]
    assert updated["customModels"] == ["a-model"]
    assert updated["secretHint"] == key["secretHint"]
    assert updated["models"] == [{"id": "a-model", "source": "CUSTOM"}]
    services: Services = app.state.services
    assert await services.llm_keys.reveal_secret(uuid.UUID(key["id"])) == SECRET


async def test_update_replaces_the_custom_models(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)
    key = await add_llm_key(gql, owner, project["id"], customModels=["old"])

    data = await gql.execute(
        UPDATE_LLM_KEY,
        {"input": {"id": key["id"], "customModels": ["new-1", "new-2", "new-1"]}},
        owner.access_token,
    )

    assert data["updateLlmApiKey"]["llmApiKey"]["customModels"] == ["new-1", "new-2"]


async def test_delete_removes_the_key_and_its_models(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)
    key = await add_llm_key(gql, owner, project["id"])

    data = await gql.execute(DELETE_LLM_KEY, {"input": {"id": key["id"]}}, owner.access_token)
    listed = await gql.execute(LLM_KEYS, {"id": project["id"]}, owner.access_token)
    again = await gql.execute(DELETE_LLM_KEY, {"input": {"id": key["id"]}}, owner.access_token)

    assert data["deleteLlmApiKey"] == {"deletedLlmApiKeyId": key["id"], "userErrors": []}
    assert listed["project"] == {"llmApiKeys": [], "models": []}
    assert again["deleteLlmApiKey"]["userErrors"][0]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(("role", "may_manage"), [("ADMIN", True), ("MEMBER", False)])
async def test_admins_manage_llm_keys_and_members_read_them(
    gql: GraphQLClient, role: str, may_manage: bool
) -> None:
    owner, project = await _owner_with_project(gql)
    colleague = await sign_up(gql)
    await add_member(gql, owner, project["id"], colleague.email, role)
    await add_llm_key(gql, owner, project["id"], provider="ANTHROPIC")

    added = await gql.execute(
        ADD_LLM_KEY,
        {"input": {"projectId": project["id"], "provider": "OPENAI", "secretKey": SECRET}},
        colleague.access_token,
    )
    listed = await gql.execute(LLM_KEYS, {"id": project["id"]}, colleague.access_token)

    errors = added["addLlmApiKey"]["userErrors"]
    assert (errors == []) is may_manage
    if not may_manage:
        assert errors[0]["code"] == "FORBIDDEN"
    assert len(listed["project"]["llmApiKeys"]) == (2 if may_manage else 1)


async def test_project_keys_can_neither_read_nor_manage_llm_keys(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)
    llm_key = await add_llm_key(gql, owner, project["id"])
    api_key = await create_key(gql, owner, project["id"])

    listed = await gql.errors(
        "query($id: ID!) { project(id: $id) { llmApiKeys { id } } }",
        {"id": project["id"]},
        api_key["secret"],
    )
    models = await gql.execute(
        "query($id: ID!) { project(id: $id) { models { id } } }",
        {"id": project["id"]},
        api_key["secret"],
    )
    updated = await gql.execute(
        UPDATE_LLM_KEY, {"input": {"id": llm_key["id"], "secretKey": "x" * 20}}, api_key["secret"]
    )
    deleted = await gql.execute(DELETE_LLM_KEY, {"input": {"id": llm_key["id"]}}, api_key["secret"])

    assert listed[0]["extensions"]["code"] == "FORBIDDEN"
    assert models["project"]["models"]
    assert updated["updateLlmApiKey"]["userErrors"][0]["code"] == "FORBIDDEN"
    assert deleted["deleteLlmApiKey"]["userErrors"][0]["code"] == "FORBIDDEN"


async def test_another_projects_llm_key_is_not_found(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)
    key = await add_llm_key(gql, owner, project["id"])
    outsider = await sign_up(gql)

    updated = await gql.execute(
        UPDATE_LLM_KEY, {"input": {"id": key["id"], "secretKey": "x" * 20}}, outsider.access_token
    )
    deleted = await gql.execute(DELETE_LLM_KEY, {"input": {"id": key["id"]}}, outsider.access_token)
    added = await gql.execute(
        ADD_LLM_KEY,
        {"input": {"projectId": project["id"], "provider": "ANTHROPIC", "secretKey": SECRET}},
        outsider.access_token,
    )

    assert updated["updateLlmApiKey"]["userErrors"][0]["code"] == "NOT_FOUND"
    assert deleted["deleteLlmApiKey"]["userErrors"][0]["code"] == "NOT_FOUND"
    assert added["addLlmApiKey"]["userErrors"][0]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("key_id", ["not-a-uuid", "8d6b9a3e-2f1c-4e7a-9b0d-5c4e3f2a1b09"])
async def test_unknown_llm_key_ids_are_not_found(gql: GraphQLClient, key_id: str) -> None:
    owner, _ = await _owner_with_project(gql)

    data = await gql.execute(
        UPDATE_LLM_KEY, {"input": {"id": key_id, "secretKey": SECRET}}, owner.access_token
    )

    assert data["updateLlmApiKey"]["userErrors"][0]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("secret", ["", "   ", "\n", "s" * 501])
async def test_bad_secrets_are_refused(gql: GraphQLClient, secret: str) -> None:
    owner, project = await _owner_with_project(gql)

    data = await gql.execute(
        ADD_LLM_KEY,
        {"input": {"projectId": project["id"], "provider": "OPENAI", "secretKey": secret}},
        owner.access_token,
    )

    assert data["addLlmApiKey"]["llmApiKey"] is None
    assert data["addLlmApiKey"]["userErrors"][0]["field"] == ["secretKey"]


async def test_an_unknown_provider_is_a_validation_error(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)

    errors = await gql.errors(
        ADD_LLM_KEY,
        {"input": {"projectId": project["id"], "provider": "MISTRAL", "secretKey": SECRET}},
        owner.access_token,
    )

    assert "MISTRAL" in errors[0]["message"]


@pytest.mark.parametrize(
    ("models", "bad_index"),
    [
        (["ok", ""], "1"),
        (["has space"], "0"),
        (["tab\there"], "0"),
        (["bell\x07"], "0"),
        (["m" * 201], "0"),
    ],
)
async def test_bad_custom_model_ids_are_refused_by_position(
    gql: GraphQLClient, models: list[str], bad_index: str
) -> None:
    owner, project = await _owner_with_project(gql)

    data = await gql.execute(
        ADD_LLM_KEY,
        {
            "input": {
                "projectId": project["id"],
                "provider": "OPENAI",
                "secretKey": SECRET,
                "customModels": models,
            }
        },
        owner.access_token,
    )

    assert data["addLlmApiKey"]["userErrors"][0]["field"] == ["customModels", bad_index]


async def test_more_than_100_custom_models_are_refused(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)

    data = await gql.execute(
        ADD_LLM_KEY,
        {
            "input": {
                "projectId": project["id"],
                "provider": "OPENAI",
                "secretKey": SECRET,
                "customModels": [f"model-{i}" for i in range(101)],
            }
        },
        owner.access_token,
    )

    assert data["addLlmApiKey"]["userErrors"][0]["field"] == ["customModels"]


async def test_duplicate_custom_models_are_folded(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)

    key = await add_llm_key(gql, owner, project["id"], customModels=["a", "b", "a", "b"])

    assert key["customModels"] == ["a", "b"]


async def test_a_key_that_would_route_no_model_is_refused(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)

    data = await gql.execute(
        ADD_LLM_KEY,
        {
            "input": {
                "projectId": project["id"],
                "provider": "OPENAI",
                "secretKey": SECRET,
                "withDefaultModels": False,
            }
        },
        owner.access_token,
    )

    error = data["addLlmApiKey"]["userErrors"][0]
    assert error["field"] == ["withDefaultModels"]
    assert "route no model" in error["message"]


async def test_updating_away_the_last_model_is_refused(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)
    key = await add_llm_key(
        gql, owner, project["id"], customModels=["only"], withDefaultModels=False
    )

    data = await gql.execute(
        UPDATE_LLM_KEY, {"input": {"id": key["id"], "customModels": []}}, owner.access_token
    )

    assert data["updateLlmApiKey"]["userErrors"][0]["field"] == ["withDefaultModels"]


async def test_project_models_union_every_key(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)
    await add_llm_key(gql, owner, project["id"], provider="OPENAI", customModels=["my-ft"])
    await add_llm_key(gql, owner, project["id"], provider="ANTHROPIC")

    data = await gql.execute(LLM_KEYS, {"id": project["id"]}, owner.access_token)

    ids = [m["id"] for m in data["project"]["models"]]
    assert ids == [*_default_ids(Provider.OPENAI), "my-ft", *_default_ids(Provider.ANTHROPIC)]


async def test_a_custom_claim_beats_another_providers_default(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)
    openai_default = _default_ids(Provider.OPENAI)[0]
    await add_llm_key(gql, owner, project["id"], provider="OPENAI")
    await add_llm_key(
        gql, owner, project["id"], provider="ANTHROPIC", customModels=[openai_default]
    )

    data = await gql.execute(LLM_KEYS, {"id": project["id"]}, owner.access_token)

    claims = [m for m in data["project"]["models"] if m["id"] == openai_default]
    assert claims == [{"id": openai_default, "provider": "ANTHROPIC", "source": "CUSTOM"}]


async def test_between_equal_claims_the_first_provider_wins(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)
    await add_llm_key(gql, owner, project["id"], provider="ANTHROPIC", customModels=["shared"])
    await add_llm_key(gql, owner, project["id"], provider="OPENAI", customModels=["shared"])

    data = await gql.execute(LLM_KEYS, {"id": project["id"]}, owner.access_token)

    claims = [m for m in data["project"]["models"] if m["id"] == "shared"]
    assert claims == [{"id": "shared", "provider": "OPENAI", "source": "CUSTOM"}]


async def test_an_operator_catalog_replaces_the_defaults(
    gql: GraphQLClient, settings: Settings, tmp_path: Path
) -> None:
    owner, project = await _owner_with_project(gql)
    catalog = tmp_path / "models.json"
    catalog.write_text(json.dumps({"openai": ["house-model-1", "house-model-2"]}))

    async with serving(replace(settings, model_catalog_file=catalog)) as http:
        await GraphQLClient(http).execute(
            ADD_LLM_KEY,
            {"input": {"projectId": project["id"], "provider": "OPENAI", "secretKey": SECRET}},
            owner.access_token,
        )
        data = await GraphQLClient(http).execute(
            LLM_KEYS, {"id": project["id"]}, owner.access_token
        )

    assert [m["id"] for m in data["project"]["models"]] == ["house-model-1", "house-model-2"]


async def test_add_update_and_delete_are_audited_without_the_secret(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)
    key = await add_llm_key(gql, owner, project["id"], secret_key=SECRET)
    await gql.execute(
        UPDATE_LLM_KEY,
        {"input": {"id": key["id"], "secretKey": SECRET + "Q", "customModels": ["x"]}},
        owner.access_token,
    )
    await gql.execute(DELETE_LLM_KEY, {"input": {"id": key["id"]}}, owner.access_token)

    data = await gql.execute(AUDIT, {"id": project["id"]}, owner.access_token)

    events = {e["node"]["action"]: e["node"] for e in data["project"]["auditEvents"]["edges"]}
    assert set(events) >= {"llm_api_key.add", "llm_api_key.update", "llm_api_key.delete"}
    assert events["llm_api_key.update"]["details"] == {
        "provider": "openai",
        "secretHint": "…1B2Q",
        "changed": ["secretKey", "customModels"],
    }
    assert events["llm_api_key.delete"]["targetId"] == key["id"]


@pytest.mark.parametrize(
    "secret", ["sk-with\nnewline-0123456789", "sk-with space-0123456789", "sk-ünïcode-0123456789"]
)
async def test_a_secret_that_cannot_be_a_header_is_refused(gql: GraphQLClient, secret: str) -> None:
    owner, project = await _owner_with_project(gql)

    data = await gql.execute(
        ADD_LLM_KEY,
        {"input": {"projectId": project["id"], "provider": "OPENAI", "secretKey": secret}},
        owner.access_token,
    )

    assert data["addLlmApiKey"]["userErrors"][0]["field"] == ["secretKey"]


async def test_a_custom_model_with_a_trailing_newline_is_refused(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)

    data = await gql.execute(
        ADD_LLM_KEY,
        {
            "input": {
                "projectId": project["id"],
                "provider": "OPENAI",
                "secretKey": SECRET,
                "customModels": ["gpt-4\n"],
            }
        },
        owner.access_token,
    )

    assert data["addLlmApiKey"]["userErrors"][0]["field"] == ["customModels", "0"]


@pytest.mark.parametrize("change", ["add", "update", "delete"])
async def test_an_admin_removed_while_changing_a_provider_key_changes_nothing(
    app: Litestar, gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    owner = await sign_up(gql)
    project = await create_project(gql, owner)
    admin = await sign_up(gql)
    await add_member(gql, owner, project["id"], admin.email, "ADMIN")
    key = await add_llm_key(gql, admin, project["id"], customModels=["kept-model"])
    removed = remove_right_after_rights_are_read(
        monkeypatch, app, gql, owner=owner, project_id=project["id"], member=admin
    )
    query, payload, field = {
        "add": (
            ADD_LLM_KEY,
            {"projectId": project["id"], "provider": "ANTHROPIC", "secretKey": SECRET},
            "addLlmApiKey",
        ),
        "update": (UPDATE_LLM_KEY, {"id": key["id"], "customModels": ["late"]}, "updateLlmApiKey"),
        "delete": (DELETE_LLM_KEY, {"id": key["id"]}, "deleteLlmApiKey"),
    }[change]

    data = await gql.execute(query, {"input": payload}, admin.access_token)

    assert removed
    assert data[field]["userErrors"][0]["code"] == "NOT_FOUND"
    listing = await gql.execute(LLM_KEYS, {"id": project["id"]}, owner.access_token)
    assert [(k["provider"], k["customModels"]) for k in listing["project"]["llmApiKeys"]] == [
        ("OPENAI", ["kept-model"])
    ]


async def test_add_reports_every_invalid_field_at_once(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)

    data = await gql.execute(
        ADD_LLM_KEY,
        {
            "input": {
                "projectId": project["id"],
                "provider": "OPENAI",
                "secretKey": "   ",
                "customModels": ["good", "has space", ""],
            }
        },
        owner.access_token,
    )

    fields = sorted(tuple(error["field"]) for error in data["addLlmApiKey"]["userErrors"])
    assert fields == [("customModels", "1"), ("customModels", "2"), ("secretKey",)]


async def test_update_reports_the_secret_and_the_models_together(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)
    key = await add_llm_key(gql, owner, project["id"])

    data = await gql.execute(
        UPDATE_LLM_KEY,
        {"input": {"id": key["id"], "secretKey": "with space", "customModels": ["a b"]}},
        owner.access_token,
    )

    fields = sorted(tuple(error["field"]) for error in data["updateLlmApiKey"]["userErrors"])
    assert fields == [("customModels", "0"), ("secretKey",)]
