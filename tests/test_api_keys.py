"""Project API keys: create, use, edit, delete, expire, search, rights."""

from __future__ import annotations

import asyncio
import contextvars
from datetime import datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar

from app.clock import FrozenClock
from app.security import tokens
from tests.conftest import CLIENT_IP
from tests.graphql_client import GraphQLClient, Session
from tests.helpers import (
    API_KEYS,
    CREATE_KEY,
    DELETE_KEY,
    REMOVE_MEMBER,
    UPDATE_NOTE,
    add_member,
    create_key,
    create_project,
    log_in_again,
    remove_right_after_rights_are_read,
    sign_up,
)

PROJECT_NAME = "{ viewer { ... on Project { id name } } }"
AUDIT = """
query Audit($id: ID!) {
  project(id: $id) {
    auditEvents { edges { node { action targetId details clientIp actor { id } } } }
  }
}
"""
ONE_KEY = """
query Key($project: ID!, $key: ID!) {
  project(id: $project) { apiKey(id: $key) { id note status } }
}
"""


async def _owner_with_project(gql: GraphQLClient) -> tuple[Session, dict[str, Any]]:
    owner = await sign_up(gql)
    return owner, await create_project(gql, owner)


def _iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


async def test_create_returns_the_secret_once_with_the_key_metadata(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)

    key = await create_key(gql, owner, project["id"], note="  CI/CD Pipeline  ")

    assert key["note"] == "CI/CD Pipeline"
    assert key["status"] == "ACTIVE"
    assert key["expiresAt"] is None
    assert key["lastUsedAt"] is None
    assert key["createdBy"] == {"id": owner.user_id}
    assert key["secret"].startswith(key["start"])
    assert key["secret"].startswith("tlx_" + key["id"] + "_")
    assert tokens.parse_project_key(key["secret"]).key_id == key["id"]


async def test_the_secret_never_appears_again(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)
    key = await create_key(gql, owner, project["id"])

    listing = await gql.post(API_KEYS, {"id": project["id"]}, owner.access_token)
    single = await gql.post(
        ONE_KEY, {"project": project["id"], "key": key["id"]}, owner.access_token
    )
    renamed = await gql.post(
        UPDATE_NOTE, {"input": {"id": key["id"], "note": "renamed"}}, owner.access_token
    )

    for response in (listing, single, renamed):
        assert key["secret"] not in response.text
        assert key["secret"][len("tlx_") + 12 :] not in response.text


async def test_a_key_authenticates_as_its_project(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)
    key = await create_key(gql, owner, project["id"])

    data = await gql.execute(PROJECT_NAME, token=key["secret"])

    assert data["viewer"] == {"id": project["id"], "name": project["name"]}


async def test_a_key_reads_its_own_projects_keys(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)
    key = await create_key(gql, owner, project["id"])

    data = await gql.execute(API_KEYS, {"id": project["id"]}, key["secret"])

    assert [edge["node"]["id"] for edge in data["project"]["apiKeys"]["edges"]] == [key["id"]]


async def test_a_key_cannot_see_another_project(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)
    other = await create_project(gql, owner, "Other")
    key = await create_key(gql, owner, project["id"])

    data = await gql.execute(API_KEYS, {"id": other["id"]}, key["secret"])
    listed = await gql.execute("{ projects { totalCount } }", token=key["secret"])

    assert data["project"] is None
    assert listed["projects"]["totalCount"] == 1


@pytest.mark.parametrize("mutation", ["create", "update", "delete"])
async def test_a_key_cannot_manage_keys(gql: GraphQLClient, mutation: str) -> None:
    owner, project = await _owner_with_project(gql)
    key = await create_key(gql, owner, project["id"])
    query, variables, field = {
        "create": (CREATE_KEY, {"projectId": project["id"], "note": "x"}, "createApiKey"),
        "update": (UPDATE_NOTE, {"id": key["id"], "note": "x"}, "updateApiKeyNote"),
        "delete": (DELETE_KEY, {"id": key["id"]}, "deleteApiKey"),
    }[mutation]

    data = await gql.execute(query, {"input": variables}, key["secret"])

    assert data[field]["userErrors"][0]["code"] == "FORBIDDEN"


async def test_a_key_of_project_a_cannot_delete_keys_of_project_b(gql: GraphQLClient) -> None:
    owner, project_a = await _owner_with_project(gql)
    project_b = await create_project(gql, owner, "B")
    key_a = await create_key(gql, owner, project_a["id"])
    key_b = await create_key(gql, owner, project_b["id"])

    data = await gql.execute(DELETE_KEY, {"input": {"id": key_b["id"]}}, key_a["secret"])

    assert data["deleteApiKey"]["userErrors"][0]["code"] == "NOT_FOUND"
    assert (await gql.execute(PROJECT_NAME, token=key_b["secret"]))["viewer"]["id"] == (
        project_b["id"]
    )


@pytest.mark.parametrize(("role", "may_manage"), [("ADMIN", True), ("MEMBER", False)])
async def test_admins_manage_keys_and_members_only_read(
    gql: GraphQLClient, role: str, may_manage: bool
) -> None:
    owner, project = await _owner_with_project(gql)
    colleague = await sign_up(gql)
    await add_member(gql, owner, project["id"], colleague.email, role)
    await create_key(gql, owner, project["id"])

    created = await gql.execute(
        CREATE_KEY, {"input": {"projectId": project["id"], "note": "mine"}}, colleague.access_token
    )
    listed = await gql.execute(API_KEYS, {"id": project["id"]}, colleague.access_token)

    errors = created["createApiKey"]["userErrors"]
    assert (errors == []) is may_manage
    if not may_manage:
        assert errors[0]["code"] == "FORBIDDEN"
    assert listed["project"]["apiKeys"]["totalCount"] == (2 if may_manage else 1)


async def test_outsiders_get_not_found_for_another_projects_key(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)
    key = await create_key(gql, owner, project["id"])
    outsider = await sign_up(gql)

    created = await gql.execute(
        CREATE_KEY, {"input": {"projectId": project["id"], "note": "x"}}, outsider.access_token
    )
    renamed = await gql.execute(
        UPDATE_NOTE, {"input": {"id": key["id"], "note": "x"}}, outsider.access_token
    )
    deleted = await gql.execute(DELETE_KEY, {"input": {"id": key["id"]}}, outsider.access_token)

    assert created["createApiKey"]["userErrors"][0]["code"] == "NOT_FOUND"
    assert renamed["updateApiKeyNote"]["userErrors"][0]["code"] == "NOT_FOUND"
    assert deleted["deleteApiKey"]["userErrors"][0]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("note", ["", "   ", "n" * 201])
async def test_note_must_be_1_to_200_characters(gql: GraphQLClient, note: str) -> None:
    owner, project = await _owner_with_project(gql)

    data = await gql.execute(
        CREATE_KEY, {"input": {"projectId": project["id"], "note": note}}, owner.access_token
    )

    assert data["createApiKey"]["secret"] is None
    assert data["createApiKey"]["userErrors"][0]["field"] == ["note"]


async def test_an_expiry_in_the_past_is_refused(gql: GraphQLClient, clock: FrozenClock) -> None:
    owner, project = await _owner_with_project(gql)
    past = _iso(clock.now() - timedelta(seconds=1))

    data = await gql.execute(
        CREATE_KEY,
        {"input": {"projectId": project["id"], "note": "x", "expiresAt": past}},
        owner.access_token,
    )

    assert data["createApiKey"]["userErrors"][0]["field"] == ["expiresAt"]


@pytest.mark.parametrize("value", ["2030-01-01T00:00:00", "next tuesday", "2030-13-01T00:00:00Z"])
async def test_an_expiry_without_offset_or_not_a_date_is_a_validation_error(
    gql: GraphQLClient, value: str
) -> None:
    owner, project = await _owner_with_project(gql)

    errors = await gql.errors(
        CREATE_KEY,
        {"input": {"projectId": project["id"], "note": "x", "expiresAt": value}},
        owner.access_token,
    )

    assert "ISO 8601" in errors[0]["message"]


async def test_a_blank_expiry_means_never(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)

    key = await create_key(gql, owner, project["id"], expires_at="")

    assert key["expiresAt"] is None


async def test_an_expiry_with_an_offset_is_returned_in_utc(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)

    key = await create_key(gql, owner, project["id"], expires_at="2031-06-01T12:00:00+02:00")

    assert key["expiresAt"] == "2031-06-01T10:00:00Z"


async def test_a_key_is_refused_from_the_instant_it_expires(
    gql: GraphQLClient, clock: FrozenClock
) -> None:
    owner, project = await _owner_with_project(gql)
    expires_at = clock.now() + timedelta(days=1)
    key = await create_key(gql, owner, project["id"], expires_at=_iso(expires_at))

    clock.set(expires_at - timedelta(microseconds=1))
    just_before = await gql.post(PROJECT_NAME, token=key["secret"])
    clock.set(expires_at)
    at_expiry = await gql.post(PROJECT_NAME, token=key["secret"])

    assert just_before.status_code == 200
    assert at_expiry.status_code == 401


async def test_an_expired_key_is_listed_as_expired(gql: GraphQLClient, clock: FrozenClock) -> None:
    owner, project = await _owner_with_project(gql)
    await create_key(gql, owner, project["id"], expires_at=_iso(clock.now() + timedelta(minutes=1)))
    clock.advance(timedelta(minutes=2))

    data = await gql.execute(API_KEYS, {"id": project["id"]}, owner.access_token)

    assert data["project"]["apiKeys"]["edges"][0]["node"]["status"] == "EXPIRED"


async def test_editing_the_note_keeps_the_secret_working(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)
    key = await create_key(gql, owner, project["id"], note="old")

    data = await gql.execute(
        UPDATE_NOTE, {"input": {"id": key["id"], "note": " Staging API "}}, owner.access_token
    )

    assert data["updateApiKeyNote"]["apiKey"] == {
        "id": key["id"],
        "note": "Staging API",
        "start": key["start"],
    }
    assert (await gql.post(PROJECT_NAME, token=key["secret"])).status_code == 200


async def test_editing_to_an_empty_note_is_refused(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)
    key = await create_key(gql, owner, project["id"])

    data = await gql.execute(
        UPDATE_NOTE, {"input": {"id": key["id"], "note": " "}}, owner.access_token
    )

    assert data["updateApiKeyNote"]["userErrors"][0]["field"] == ["note"]


async def test_a_deleted_key_gets_401_on_the_very_next_request(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)
    key = await create_key(gql, owner, project["id"])
    assert (await gql.post(PROJECT_NAME, token=key["secret"])).status_code == 200

    data = await gql.execute(DELETE_KEY, {"input": {"id": key["id"]}}, owner.access_token)
    after = await gql.post(PROJECT_NAME, token=key["secret"])

    assert data["deleteApiKey"] == {"deletedApiKeyId": key["id"], "userErrors": []}
    assert after.status_code == 401
    assert after.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("operation", ["delete", "update", "read"])
async def test_a_deleted_key_is_not_found(gql: GraphQLClient, operation: str) -> None:
    owner, project = await _owner_with_project(gql)
    key = await create_key(gql, owner, project["id"])
    await gql.execute(DELETE_KEY, {"input": {"id": key["id"]}}, owner.access_token)

    if operation == "delete":
        data = await gql.execute(DELETE_KEY, {"input": {"id": key["id"]}}, owner.access_token)
        assert data["deleteApiKey"]["userErrors"][0]["code"] == "NOT_FOUND"
    elif operation == "update":
        data = await gql.execute(
            UPDATE_NOTE, {"input": {"id": key["id"], "note": "x"}}, owner.access_token
        )
        assert data["updateApiKeyNote"]["userErrors"][0]["code"] == "NOT_FOUND"
    else:
        data = await gql.execute(
            ONE_KEY, {"project": project["id"], "key": key["id"]}, owner.access_token
        )
        assert data["project"]["apiKey"] is None


@pytest.mark.parametrize("key_id", ["", "nope", "x" * 500])
async def test_unknown_key_ids_are_not_found(gql: GraphQLClient, key_id: str) -> None:
    owner, _ = await _owner_with_project(gql)

    data = await gql.execute(DELETE_KEY, {"input": {"id": key_id}}, owner.access_token)

    assert data["deleteApiKey"]["userErrors"][0]["code"] == "NOT_FOUND"


async def test_rotation_keeps_both_keys_working_until_the_old_is_deleted(
    gql: GraphQLClient,
) -> None:
    owner, project = await _owner_with_project(gql)
    old = await create_key(gql, owner, project["id"], note="Production backend")
    new = await create_key(gql, owner, project["id"], note="Production backend")

    both = [await gql.post(PROJECT_NAME, token=k["secret"]) for k in (old, new)]
    await gql.execute(DELETE_KEY, {"input": {"id": old["id"]}}, owner.access_token)

    assert [response.status_code for response in both] == [200, 200]
    assert (await gql.post(PROJECT_NAME, token=old["secret"])).status_code == 401
    assert (await gql.post(PROJECT_NAME, token=new["secret"])).status_code == 200


async def test_search_matches_note_substrings_case_insensitively(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)
    prod = await create_key(gql, owner, project["id"], note="Production API - backend")
    await create_key(gql, owner, project["id"], note="Staging API - integration tests")

    data = await gql.execute(
        API_KEYS, {"id": project["id"], "search": "BACKEND"}, owner.access_token
    )

    assert [e["node"]["id"] for e in data["project"]["apiKeys"]["edges"]] == [prod["id"]]


async def test_search_matches_the_exact_key_id(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)
    wanted = await create_key(gql, owner, project["id"], note="one")
    await create_key(gql, owner, project["id"], note="two")

    data = await gql.execute(
        API_KEYS, {"id": project["id"], "search": wanted["id"]}, owner.access_token
    )

    assert [e["node"]["id"] for e in data["project"]["apiKeys"]["edges"]] == [wanted["id"]]


@pytest.mark.parametrize("search", ["%", "_", "nothing like it"])
async def test_search_treats_wildcards_literally(gql: GraphQLClient, search: str) -> None:
    owner, project = await _owner_with_project(gql)
    await create_key(gql, owner, project["id"], note="plain note")

    data = await gql.execute(API_KEYS, {"id": project["id"], "search": search}, owner.access_token)

    assert data["project"]["apiKeys"]["totalCount"] == 0


async def test_keys_are_listed_newest_first_in_pages(
    gql: GraphQLClient, clock: FrozenClock
) -> None:
    owner, project = await _owner_with_project(gql)
    created = []
    for index in range(5):
        created.append((await create_key(gql, owner, project["id"], note=f"k{index}"))["id"])
        clock.advance(timedelta(seconds=1))

    first = await gql.execute(API_KEYS, {"id": project["id"], "first": 3}, owner.access_token)
    page = first["project"]["apiKeys"]
    rest = await gql.execute(
        API_KEYS,
        {"id": project["id"], "first": 3, "after": page["pageInfo"]["endCursor"]},
        owner.access_token,
    )

    ids = [e["node"]["id"] for e in page["edges"]] + [
        e["node"]["id"] for e in rest["project"]["apiKeys"]["edges"]
    ]
    assert ids == list(reversed(created))
    assert page["totalCount"] == 5
    assert rest["project"]["apiKeys"]["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize("first", [-1, 101])
async def test_first_must_be_between_0_and_100(gql: GraphQLClient, first: int) -> None:
    owner, project = await _owner_with_project(gql)

    errors = await gql.errors(API_KEYS, {"id": project["id"], "first": first}, owner.access_token)

    assert errors[0]["extensions"]["code"] == "INVALID"


async def test_create_edit_and_delete_are_audited(gql: GraphQLClient, clock: FrozenClock) -> None:
    owner, project = await _owner_with_project(gql)
    clock.advance(timedelta(seconds=1))
    key = await create_key(gql, owner, project["id"], note="first")
    clock.advance(timedelta(seconds=1))
    await gql.execute(
        UPDATE_NOTE, {"input": {"id": key["id"], "note": "second"}}, owner.access_token
    )
    clock.advance(timedelta(seconds=1))
    await gql.execute(DELETE_KEY, {"input": {"id": key["id"]}}, owner.access_token)

    data = await gql.execute(AUDIT, {"id": project["id"]}, owner.access_token)

    events = [e["node"] for e in data["project"]["auditEvents"]["edges"]][:3]
    assert [(e["action"], e["targetId"]) for e in events] == [
        ("api_key.delete", key["id"]),
        ("api_key.update_note", key["id"]),
        ("api_key.create", key["id"]),
    ]
    assert events[1]["details"] == {"note": "second", "previous_note": "first"}
    assert {e["clientIp"] for e in events} == {CLIENT_IP}
    assert {e["actor"]["id"] for e in events} == {owner.user_id}


@pytest.mark.parametrize(
    "field",
    [
        "members { totalCount }",
        "securityAlerts { totalCount }",
        "apiKeys { edges { node { clientIps { totalCount } } } }",
    ],
)
async def test_a_key_cannot_read_peoples_data(gql: GraphQLClient, field: str) -> None:
    owner, project = await _owner_with_project(gql)
    key = await create_key(gql, owner, project["id"])

    errors = await gql.errors(
        f"query($id: ID!) {{ project(id: $id) {{ {field} }} }}",
        {"id": project["id"]},
        key["secret"],
    )

    assert errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_key_sees_no_creator_email(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)
    key = await create_key(gql, owner, project["id"])

    data = await gql.execute(
        "query($id: ID!) { project(id: $id) { apiKeys { edges { node { createdBy { email } } } } } }",  # noqa: E501
        {"id": project["id"]},
        key["secret"],
    )

    assert data["project"]["apiKeys"]["edges"][0]["node"]["createdBy"] is None
    assert owner.email not in str(data)


@pytest.mark.parametrize("change", ["create", "rename", "delete"])
async def test_an_admin_removed_while_changing_a_key_changes_nothing(
    app: Litestar, gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    owner, project = await _owner_with_project(gql)
    admin = await sign_up(gql)
    await add_member(gql, owner, project["id"], admin.email, "ADMIN")
    key = await create_key(gql, admin, project["id"], note="kept")
    removed = remove_right_after_rights_are_read(
        monkeypatch, app, gql, owner=owner, project_id=project["id"], member=admin
    )
    query, payload, field = {
        "create": (CREATE_KEY, {"projectId": project["id"], "note": "late"}, "createApiKey"),
        "rename": (UPDATE_NOTE, {"id": key["id"], "note": "late"}, "updateApiKeyNote"),
        "delete": (DELETE_KEY, {"id": key["id"]}, "deleteApiKey"),
    }[change]

    data = await gql.execute(query, {"input": payload}, admin.access_token)

    assert removed
    assert data[field]["userErrors"][0]["code"] == "NOT_FOUND"
    listing = await gql.execute(API_KEYS, {"id": project["id"]}, owner.access_token)
    notes = [edge["node"]["note"] for edge in listing["project"]["apiKeys"]["edges"]]
    assert notes == ["kept"]


async def test_a_removal_waits_for_a_key_write_that_already_checked_the_role(
    app: Litestar, gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, project = await _owner_with_project(gql)
    admin = await sign_up(gql)
    await add_member(gql, owner, project["id"], admin.email, "ADMIN")
    access_control = app.state.services.access
    authorize_write = access_control.authorize_write
    removal: list[asyncio.Task[Any]] = []

    async def rights_confirmed_then_removal_starts(*args: Any, **kw: Any) -> Any:
        access = await authorize_write(*args, **kw)
        if not removal:
            # The owner's removal starts while the key write holds the project's lock; a fresh
            # context, or the task would join the write's own transaction.
            removal.append(
                asyncio.create_task(
                    gql.execute(
                        REMOVE_MEMBER,
                        {"input": {"projectId": project["id"], "userId": admin.user_id}},
                        owner.access_token,
                    ),
                    context=contextvars.Context(),
                )
            )
            await asyncio.sleep(0.2)
            assert not removal[0].done(), "the removal did not wait for the key write"
        return access

    monkeypatch.setattr(access_control, "authorize_write", rights_confirmed_then_removal_starts)

    data = await gql.execute(
        CREATE_KEY, {"input": {"projectId": project["id"], "note": "in time"}}, admin.access_token
    )

    assert data["createApiKey"]["userErrors"] == []
    removed = await removal[0]
    assert removed["removeProjectMember"]["userErrors"] == []


async def test_create_reports_a_blank_note_and_a_past_expiry_together(
    gql: GraphQLClient, clock: FrozenClock
) -> None:
    owner, project = await _owner_with_project(gql)

    data = await gql.execute(
        CREATE_KEY,
        {
            "input": {
                "projectId": project["id"],
                "note": "  ",
                "expiresAt": _iso(clock.now() - timedelta(days=1)),
            }
        },
        owner.access_token,
    )

    errors = data["createApiKey"]["userErrors"]
    assert sorted(tuple(error["field"]) for error in errors) == [("expiresAt",), ("note",)]
    assert {error["code"] for error in errors} == {"INVALID"}


async def test_a_datetime_without_offset_is_a_bad_user_input_error(gql: GraphQLClient) -> None:
    owner, project = await _owner_with_project(gql)

    errors = await gql.errors(
        CREATE_KEY,
        {"input": {"projectId": project["id"], "note": "x", "expiresAt": "2030-01-01T00:00:00"}},
        owner.access_token,
    )

    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"


LISTED = """
query Keys($id: ID!, $first: Int, $after: String, $status: ApiKeyStatus, $orderBy: ApiKeyOrder) {
  project(id: $id) {
    apiKeys(first: $first, after: $after, status: $status, orderBy: $orderBy) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { note } }
    }
  }
}
"""


async def _listed(
    gql: GraphQLClient, owner: Session, project_id: str, page_size: int, **arguments: Any
) -> tuple[list[str], int]:
    """Every note the list shows, page by page, and its total count."""
    notes: list[str] = []
    after = None
    while True:
        data = await gql.execute(
            LISTED,
            {"id": project_id, "first": page_size, "after": after, **arguments},
            owner.access_token,
        )
        connection = data["project"]["apiKeys"]
        notes += [edge["node"]["note"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            return notes, connection["totalCount"]
        after = connection["pageInfo"]["endCursor"]


async def _keys_with_expiries(
    gql: GraphQLClient, clock: FrozenClock
) -> tuple[Session, str, dict[str, datetime | None]]:
    """Keys b, a, D, c, e created a second apart; expiries in days (None: never)."""
    owner, project = await _owner_with_project(gql)
    expiries: dict[str, datetime | None] = {}
    for note, days in [("b", 3), ("a", None), ("D", 1), ("c", None), ("e", 2)]:
        expires = clock.now() + timedelta(days=days) if days is not None else None
        await create_key(gql, owner, project["id"], note, _iso(expires) if expires else None)
        expiries[note] = expires
        clock.advance(timedelta(seconds=1))
    return owner, project["id"], expiries


@pytest.mark.parametrize(
    ("field", "direction", "expected"),
    [
        ("CREATED_AT", "DESC", ["e", "c", "D", "a", "b"]),
        ("CREATED_AT", "ASC", ["b", "a", "D", "c", "e"]),
        ("NOTE", "ASC", ["a", "b", "c", "D", "e"]),
        ("NOTE", "DESC", ["e", "D", "c", "b", "a"]),
        # Keys that never expire come last either way (ties go by key id: any order).
        ("EXPIRES_AT", "ASC", ["D", "e", "b", {"a", "c"}]),
        ("EXPIRES_AT", "DESC", ["b", "e", "D", {"a", "c"}]),
    ],
)
@pytest.mark.parametrize("page_size", [1, 2, 100])
async def test_keys_are_ordered_as_asked_across_pages(
    gql: GraphQLClient,
    clock: FrozenClock,
    field: str,
    direction: str,
    expected: list[str | set[str]],
    page_size: int,
) -> None:
    owner, project_id, _ = await _keys_with_expiries(gql, clock)

    notes, total = await _listed(
        gql, owner, project_id, page_size, orderBy={"field": field, "direction": direction}
    )

    assert len(notes) == total == 5
    position = 0
    for step in expected:
        width = len(step) if isinstance(step, set) else 1
        shown = notes[position : position + width]
        assert (set(shown) == step) if isinstance(step, set) else (shown == [step]), notes
        position += width


async def test_keys_never_used_come_after_the_used_ones(
    app: Litestar, gql: GraphQLClient, clock: FrozenClock
) -> None:
    owner, project = await _owner_with_project(gql)
    keys = {}
    for note in ("old", "never", "recent"):
        keys[note] = await create_key(gql, owner, project["id"], note)
    for note in ("old", "recent"):
        clock.advance(timedelta(minutes=2))
        await gql.execute(PROJECT_NAME, token=keys[note]["secret"])
        await app.state.services.last_use.flush()

    notes, _ = await _listed(
        gql, owner, project["id"], 1, orderBy={"field": "LAST_USED_AT", "direction": "DESC"}
    )

    assert notes == ["recent", "old", "never"]


@pytest.mark.parametrize(
    ("status", "expected"), [("ACTIVE", ["c", "a", "b"]), ("EXPIRED", ["e", "D"])]
)
async def test_keys_are_filtered_by_status(
    gql: GraphQLClient, clock: FrozenClock, status: str, expected: list[str]
) -> None:
    owner, project_id, _ = await _keys_with_expiries(gql, clock)
    clock.advance(timedelta(days=2, seconds=10))  # D (1 day) and e (2 days) have expired
    owner = await log_in_again(gql, owner)

    notes, total = await _listed(gql, owner, project_id, 2, status=status)

    assert notes == expected
    assert total == len(expected)


async def test_a_cursor_of_another_order_is_refused_or_harmless(
    gql: GraphQLClient, clock: FrozenClock
) -> None:
    owner, project_id, _ = await _keys_with_expiries(gql, clock)
    data = await gql.execute(
        LISTED,
        {"id": project_id, "first": 1, "orderBy": {"field": "NOTE", "direction": "ASC"}},
        owner.access_token,
    )
    cursor = data["project"]["apiKeys"]["pageInfo"]["endCursor"]

    response = await gql.post(
        LISTED,
        {"id": project_id, "first": 5, "after": cursor, "orderBy": {"field": "EXPIRES_AT"}},
        owner.access_token,
    )

    # A text value where a time is expected: a clear INVALID, never a crash.
    errors = response.json().get("errors") or []
    assert all(error["extensions"]["code"] == "INVALID" for error in errors)


async def test_a_key_does_not_see_where_its_keys_were_used_from(
    app: Litestar, gql: GraphQLClient, clock: FrozenClock
) -> None:
    owner, project = await _owner_with_project(gql)
    key = await create_key(gql, owner, project["id"])
    await gql.execute(PROJECT_NAME, token=key["secret"])
    await app.state.services.last_use.flush()
    query = """
    query($id: ID!) { project(id: $id) { apiKeys { edges { node {
      lastUsedAt usage24h { lastUsedAt lastUsedIp } } } } } }
    """

    as_key = await gql.execute(query, {"id": project["id"]}, key["secret"])
    as_owner = await gql.execute(query, {"id": project["id"]}, owner.access_token)

    key_view = as_key["project"]["apiKeys"]["edges"][0]["node"]
    owner_view = as_owner["project"]["apiKeys"]["edges"][0]["node"]
    assert key_view["lastUsedAt"] is not None
    assert key_view["usage24h"]["lastUsedIp"] is None
    assert owner_view["usage24h"]["lastUsedIp"] == CLIENT_IP


VIEWER_CAN = """
query($id: ID!) { project(id: $id) { viewerCan {
  manageApiKeys manageLlmApiKeys manageMembers acknowledgeSecurityAlerts
  readMembers readLlmApiKeys readSecurityAlerts readClientIps readAuditLog } } }
"""


@pytest.mark.parametrize(
    ("role", "granted"),
    [
        ("OWNER", "all"),
        (
            "ADMIN",
            {
                "manageApiKeys",
                "manageLlmApiKeys",
                "acknowledgeSecurityAlerts",
                "readMembers",
                "readLlmApiKeys",
                "readSecurityAlerts",
                "readClientIps",
                "readAuditLog",
            },
        ),
        ("MEMBER", {"readMembers", "readLlmApiKeys", "readSecurityAlerts", "readClientIps"}),
        ("KEY", set()),
    ],
)
async def test_viewer_can_says_what_each_role_may_do(
    gql: GraphQLClient, role: str, granted: str | set[str]
) -> None:
    owner, project = await _owner_with_project(gql)
    if role == "OWNER":
        token = owner.access_token
    elif role == "KEY":
        token = (await create_key(gql, owner, project["id"]))["secret"]
    else:
        person = await sign_up(gql)
        await add_member(gql, owner, project["id"], person.email, role)
        token = person.access_token

    data = await gql.execute(VIEWER_CAN, {"id": project["id"]}, token)

    flags = data["project"]["viewerCan"]
    assert {name for name, allowed in flags.items() if allowed} == (
        set(flags) if granted == "all" else granted
    )
