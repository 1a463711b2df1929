"""Projects: creation, visibility, members and roles."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest

from app.clock import FrozenClock
from tests.graphql_client import GraphQLClient, Session
from tests.helpers import (
    ADD_MEMBER,
    CREATE_PROJECT,
    PROJECT,
    REMOVE_MEMBER,
    VIEWER,
    add_member,
    create_project,
    new_email,
    sign_up,
)

PROJECTS = """
query Projects($first: Int, $after: String) {
  projects(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { id name viewerRole } }
  }
}
"""

AUDIT = """
query Audit($id: ID!) {
  project(id: $id) {
    auditEvents {
      totalCount
      edges { node { action targetType targetId clientIp details actor { email } } }
    }
  }
}
"""


async def test_creator_becomes_owner(gql: GraphQLClient) -> None:
    ada = await sign_up(gql)

    project = await create_project(gql, ada, name="  Acme Robotics  ")

    assert project["name"] == "Acme Robotics"
    assert project["viewerRole"] == "OWNER"


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
async def test_project_name_must_be_1_to_100_characters(gql: GraphQLClient, name: str) -> None:
    ada = await sign_up(gql)

    data = await gql.execute(CREATE_PROJECT, {"input": {"name": name}}, ada.access_token)

    assert data["createProject"]["project"] is None
    assert data["createProject"]["userErrors"][0]["field"] == ["name"]
    assert data["createProject"]["userErrors"][0]["code"] == "INVALID"


async def test_anonymous_cannot_create_a_project(gql: GraphQLClient) -> None:
    errors = await gql.errors(CREATE_PROJECT, {"input": {"name": "Acme"}})

    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_someone_elses_project_is_null(gql: GraphQLClient) -> None:
    ada = await sign_up(gql)
    bob = await sign_up(gql)
    project = await create_project(gql, ada)

    data = await gql.execute(PROJECT, {"id": project["id"]}, bob.access_token)

    assert data["project"] is None


@pytest.mark.parametrize("project_id", ["not-a-uuid", str(uuid.uuid4())])
async def test_unknown_project_is_null(gql: GraphQLClient, project_id: str) -> None:
    ada = await sign_up(gql)

    data = await gql.execute(PROJECT, {"id": project_id}, ada.access_token)

    assert data["project"] is None


async def test_projects_lists_only_the_callers_newest_first(gql: GraphQLClient) -> None:
    ada = await sign_up(gql)
    bob = await sign_up(gql)
    first = await create_project(gql, ada, "First")
    second = await create_project(gql, ada, "Second")
    await create_project(gql, bob, "Bob's")

    data = await gql.execute(PROJECTS, {}, ada.access_token)

    assert data["projects"]["totalCount"] == 2
    ids = [edge["node"]["id"] for edge in data["projects"]["edges"]]
    assert set(ids) == {first["id"], second["id"]}


async def test_projects_page_through_with_cursors(gql: GraphQLClient) -> None:
    ada = await sign_up(gql)
    created = {(await create_project(gql, ada, f"P{i}"))["id"] for i in range(5)}

    seen: list[str] = []
    after = None
    while True:
        data = await gql.execute(PROJECTS, {"first": 2, "after": after}, ada.access_token)
        page = data["projects"]
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    assert sorted(seen) == sorted(created)
    assert len(seen) == 5


@pytest.mark.parametrize("first", [-1, 101])
async def test_first_out_of_range_is_an_error(gql: GraphQLClient, first: int) -> None:
    ada = await sign_up(gql)

    errors = await gql.errors(PROJECTS, {"first": first}, ada.access_token)

    assert errors[0]["extensions"]["code"] == "INVALID"


async def test_a_garbage_cursor_is_an_error(gql: GraphQLClient) -> None:
    ada = await sign_up(gql)

    errors = await gql.errors(PROJECTS, {"after": "!!garbage"}, ada.access_token)

    assert errors[0]["extensions"]["code"] == "INVALID"


async def test_owner_adds_a_member_who_then_sees_the_project(gql: GraphQLClient) -> None:
    ada = await sign_up(gql)
    bob = await sign_up(gql)
    project = await create_project(gql, ada)

    payload = await add_member(gql, ada, project["id"], bob.email.upper(), "ADMIN")
    seen_by_bob = await gql.execute(PROJECT, {"id": project["id"]}, bob.access_token)

    assert payload["userErrors"] == []
    assert payload["member"] == {"role": "ADMIN", "user": {"id": bob.user_id, "email": bob.email}}
    assert seen_by_bob["project"]["viewerRole"] == "ADMIN"
    assert seen_by_bob["project"]["members"]["totalCount"] == 2


async def test_adding_an_unknown_email_is_not_found(gql: GraphQLClient) -> None:
    ada = await sign_up(gql)
    project = await create_project(gql, ada)

    payload = await add_member(gql, ada, project["id"], new_email(), "MEMBER")

    assert payload["userErrors"][0]["code"] == "NOT_FOUND"
    assert payload["userErrors"][0]["field"] == ["email"]


async def test_adding_an_existing_member_is_already_exists(gql: GraphQLClient) -> None:
    ada = await sign_up(gql)
    bob = await sign_up(gql)
    project = await create_project(gql, ada)
    await add_member(gql, ada, project["id"], bob.email, "MEMBER")

    payload = await add_member(gql, ada, project["id"], bob.email, "ADMIN")

    assert payload["userErrors"][0]["code"] == "ALREADY_EXISTS"


async def test_an_invalid_role_is_a_validation_error(gql: GraphQLClient) -> None:
    ada = await sign_up(gql)
    project = await create_project(gql, ada)

    errors = await gql.errors(
        ADD_MEMBER,
        {"input": {"projectId": project["id"], "email": ada.email, "role": "KING"}},
        ada.access_token,
    )

    assert "KING" in errors[0]["message"]


@pytest.mark.parametrize("role", ["ADMIN", "MEMBER"])
async def test_only_an_owner_adds_members(gql: GraphQLClient, role: str) -> None:
    ada = await sign_up(gql)
    bob = await sign_up(gql)
    carol = await sign_up(gql)
    project = await create_project(gql, ada)
    await add_member(gql, ada, project["id"], bob.email, role)

    payload = await add_member(gql, bob, project["id"], carol.email, "MEMBER")

    assert payload["userErrors"][0]["code"] == "FORBIDDEN"


async def test_a_non_member_adding_to_a_project_gets_not_found(gql: GraphQLClient) -> None:
    ada = await sign_up(gql)
    mallory = await sign_up(gql)
    project = await create_project(gql, ada)

    payload = await add_member(gql, mallory, project["id"], mallory.email, "OWNER")

    assert payload["userErrors"][0]["code"] == "NOT_FOUND"
    assert payload["userErrors"][0]["field"] == ["projectId"]


async def test_owner_removes_a_member(gql: GraphQLClient) -> None:
    ada = await sign_up(gql)
    bob = await sign_up(gql)
    project = await create_project(gql, ada)
    await add_member(gql, ada, project["id"], bob.email, "MEMBER")

    data = await gql.execute(
        REMOVE_MEMBER,
        {"input": {"projectId": project["id"], "userId": bob.user_id}},
        ada.access_token,
    )
    seen_by_bob = await gql.execute(PROJECT, {"id": project["id"]}, bob.access_token)

    assert data["removeProjectMember"] == {"removedUserId": bob.user_id, "userErrors": []}
    assert seen_by_bob["project"] is None


async def test_the_last_owner_cannot_be_removed(gql: GraphQLClient) -> None:
    ada = await sign_up(gql)
    project = await create_project(gql, ada)

    data = await gql.execute(
        REMOVE_MEMBER,
        {"input": {"projectId": project["id"], "userId": ada.user_id}},
        ada.access_token,
    )

    assert data["removeProjectMember"]["userErrors"][0]["code"] == "LAST_OWNER"


async def test_an_owner_can_leave_when_another_owner_remains(gql: GraphQLClient) -> None:
    ada = await sign_up(gql)
    bob = await sign_up(gql)
    project = await create_project(gql, ada)
    await add_member(gql, ada, project["id"], bob.email, "OWNER")

    data = await gql.execute(
        REMOVE_MEMBER,
        {"input": {"projectId": project["id"], "userId": ada.user_id}},
        ada.access_token,
    )

    assert data["removeProjectMember"]["userErrors"] == []


async def test_removing_a_non_member_is_not_found(gql: GraphQLClient) -> None:
    ada = await sign_up(gql)
    bob = await sign_up(gql)
    project = await create_project(gql, ada)

    data = await gql.execute(
        REMOVE_MEMBER,
        {"input": {"projectId": project["id"], "userId": bob.user_id}},
        ada.access_token,
    )

    assert data["removeProjectMember"]["userErrors"][0]["code"] == "NOT_FOUND"


async def test_viewer_is_the_signed_in_user(gql: GraphQLClient) -> None:
    ada = await sign_up(gql)

    data = await gql.execute(VIEWER, token=ada.access_token)

    assert data["viewer"]["__typename"] == "User"


async def test_changes_are_audited_with_actor_and_client_ip(
    gql: GraphQLClient, clock: FrozenClock
) -> None:
    ada = await sign_up(gql)
    bob = await sign_up(gql)
    project = await create_project(gql, ada, "Audited")
    clock.advance(timedelta(seconds=1))
    await add_member(gql, ada, project["id"], bob.email, "MEMBER")

    data = await gql.execute(AUDIT, {"id": project["id"]}, ada.access_token)

    events = [edge["node"] for edge in data["project"]["auditEvents"]["edges"]]
    assert [event["action"] for event in events] == ["project.member_add", "project.create"]
    assert events[0]["targetId"] == bob.user_id
    assert events[0]["details"] == {"role": "MEMBER"}
    assert events[0]["actor"] == {"email": ada.email}
    assert events[0]["clientIp"] == "203.0.113.7"


async def test_a_member_cannot_read_the_audit_trail(gql: GraphQLClient) -> None:
    ada = await sign_up(gql)
    bob = await sign_up(gql)
    project = await create_project(gql, ada)
    await add_member(gql, ada, project["id"], bob.email, "MEMBER")

    errors = await gql.errors(AUDIT, {"id": project["id"]}, bob.access_token)

    assert errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_failed_change_writes_nothing(gql: GraphQLClient) -> None:
    ada = await sign_up(gql)
    project = await create_project(gql, ada)
    await gql.execute(
        REMOVE_MEMBER,
        {"input": {"projectId": project["id"], "userId": ada.user_id}},
        ada.access_token,
    )

    data = await gql.execute(AUDIT, {"id": project["id"]}, ada.access_token)

    assert data["project"]["auditEvents"]["totalCount"] == 1


async def test_two_owners_removing_each_other_at_once_leave_one_owner(
    gql: GraphQLClient,
) -> None:
    ada = await sign_up(gql)
    bob = await sign_up(gql)
    project = await create_project(gql, ada)
    await add_member(gql, ada, project["id"], bob.email, "OWNER")

    def remove(actor: Session, target: Session) -> Any:
        return gql.execute(
            REMOVE_MEMBER,
            {"input": {"projectId": project["id"], "userId": target.user_id}},
            actor.access_token,
        )

    results = await asyncio.gather(remove(ada, bob), remove(bob, ada))

    errors = [r["removeProjectMember"]["userErrors"] for r in results]
    assert sorted(len(e) for e in errors) == [0, 1]
    failed = next(e for e in errors if e)
    assert failed[0]["code"] in {"LAST_OWNER", "NOT_FOUND"}
