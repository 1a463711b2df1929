"""Projects: creation, visibility, members and roles."""

from __future__ import annotations

import asyncio
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


@pytest.mark.parametrize("project_id", ["not-a-uuid", "8d6b9a3e-2f1c-4e7a-9b0d-5c4e3f2a1b09"])
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


CHANGE_ROLE = """
mutation ChangeRole($input: UpdateProjectMemberRoleInput!) {
  updateProjectMemberRole(input: $input) {
    member { role user { email } }
    userErrors { field message code }
  }
}
"""


async def change_role(
    gql: GraphQLClient, actor: Session, project_id: str, target: Session, role: str
) -> dict[str, Any]:
    data = await gql.execute(
        CHANGE_ROLE,
        {"input": {"projectId": project_id, "userId": target.user_id, "role": role}},
        actor.access_token,
    )
    payload: dict[str, Any] = data["updateProjectMemberRole"]
    return payload


async def test_owner_changes_a_members_role_and_it_applies_at_once(
    gql: GraphQLClient, clock: FrozenClock
) -> None:
    ada = await sign_up(gql)
    bob = await sign_up(gql)
    project = await create_project(gql, ada)
    await add_member(gql, ada, project["id"], bob.email, "MEMBER")
    clock.advance(timedelta(seconds=1))
    refused = await gql.errors(AUDIT, {"id": project["id"]}, bob.access_token)

    payload = await change_role(gql, ada, project["id"], bob, "ADMIN")
    seen_by_bob = await gql.execute(AUDIT, {"id": project["id"]}, bob.access_token)

    assert refused[0]["extensions"]["code"] == "FORBIDDEN"
    assert payload == {"member": {"role": "ADMIN", "user": {"email": bob.email}}, "userErrors": []}
    events = [edge["node"] for edge in seen_by_bob["project"]["auditEvents"]["edges"]]
    assert events[0]["action"] == "project.member_role_change"
    assert events[0]["details"] == {"from": "MEMBER", "to": "ADMIN"}
    assert events[0]["targetId"] == bob.user_id


async def test_the_last_owner_cannot_demote_themselves(gql: GraphQLClient) -> None:
    ada = await sign_up(gql)
    project = await create_project(gql, ada)

    payload = await change_role(gql, ada, project["id"], ada, "ADMIN")
    after = await gql.execute(PROJECT, {"id": project["id"]}, ada.access_token)

    assert payload["member"] is None
    assert payload["userErrors"][0]["code"] == "LAST_OWNER"
    assert payload["userErrors"][0]["field"] == ["role"]
    assert after["project"]["viewerRole"] == "OWNER"


async def test_an_owner_hands_over_and_steps_down(gql: GraphQLClient) -> None:
    ada = await sign_up(gql)
    bob = await sign_up(gql)
    project = await create_project(gql, ada)
    await add_member(gql, ada, project["id"], bob.email, "MEMBER")

    promoted = await change_role(gql, ada, project["id"], bob, "OWNER")
    stepped_down = await change_role(gql, ada, project["id"], ada, "MEMBER")
    refused = await change_role(gql, ada, project["id"], bob, "MEMBER")

    assert promoted["userErrors"] == []
    assert stepped_down["userErrors"] == []
    assert refused["userErrors"][0]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("role", ["ADMIN", "MEMBER"])
async def test_only_an_owner_changes_roles(gql: GraphQLClient, role: str) -> None:
    ada = await sign_up(gql)
    bob = await sign_up(gql)
    cat = await sign_up(gql)
    project = await create_project(gql, ada)
    await add_member(gql, ada, project["id"], bob.email, role)
    await add_member(gql, ada, project["id"], cat.email, "MEMBER")

    payload = await change_role(gql, bob, project["id"], cat, "ADMIN")

    assert payload["userErrors"][0]["code"] == "FORBIDDEN"


async def test_changing_a_non_members_role_is_not_found(gql: GraphQLClient) -> None:
    ada = await sign_up(gql)
    bob = await sign_up(gql)
    project = await create_project(gql, ada)

    payload = await change_role(gql, ada, project["id"], bob, "ADMIN")

    assert payload["userErrors"][0]["code"] == "NOT_FOUND"
    assert payload["userErrors"][0]["field"] == ["userId"]


async def test_setting_the_same_role_again_changes_and_audits_nothing(gql: GraphQLClient) -> None:
    ada = await sign_up(gql)
    bob = await sign_up(gql)
    project = await create_project(gql, ada)
    await add_member(gql, ada, project["id"], bob.email, "ADMIN")

    payload = await change_role(gql, ada, project["id"], bob, "ADMIN")
    data = await gql.execute(AUDIT, {"id": project["id"]}, ada.access_token)

    assert payload["userErrors"] == []
    assert data["project"]["auditEvents"]["totalCount"] == 2


async def test_two_owners_demoting_each_other_at_once_leave_one_owner(
    gql: GraphQLClient,
) -> None:
    ada = await sign_up(gql)
    bob = await sign_up(gql)
    project = await create_project(gql, ada)
    await add_member(gql, ada, project["id"], bob.email, "OWNER")

    results = await asyncio.gather(
        change_role(gql, ada, project["id"], bob, "MEMBER"),
        change_role(gql, bob, project["id"], ada, "MEMBER"),
    )

    assert sorted(len(result["userErrors"]) for result in results) == [0, 1]
    roles = await gql.execute(PROJECT, {"id": project["id"]}, ada.access_token)
    owners = [
        edge["node"]
        for edge in roles["project"]["members"]["edges"]
        if edge["node"]["role"] == "OWNER"
    ]
    assert len(owners) == 1


FILTERED_AUDIT = """
query FilteredAudit($id: ID!, $action: String, $actorId: ID, $targetId: String) {
  project(id: $id) {
    auditActions
    auditEvents(action: $action, actorId: $actorId, targetId: $targetId) {
      totalCount
      edges { node { action targetId actor { email } } }
    }
  }
}
"""


async def test_the_audit_trail_filters_by_action_actor_and_target(
    gql: GraphQLClient, clock: FrozenClock
) -> None:
    ada = await sign_up(gql)
    bob = await sign_up(gql)
    cat = await sign_up(gql)
    project = await create_project(gql, ada)
    await add_member(gql, ada, project["id"], bob.email, "OWNER")
    clock.advance(timedelta(seconds=1))
    await add_member(gql, bob, project["id"], cat.email, "MEMBER")
    clock.advance(timedelta(seconds=1))
    await change_role(gql, bob, project["id"], cat, "ADMIN")

    async def events(**only: str) -> list[tuple[str, str]]:
        data = await gql.execute(FILTERED_AUDIT, {"id": project["id"], **only}, ada.access_token)
        return [
            (edge["node"]["action"], edge["node"]["actor"]["email"])
            for edge in data["project"]["auditEvents"]["edges"]
        ]

    everything = await gql.execute(FILTERED_AUDIT, {"id": project["id"]}, ada.access_token)
    assert everything["project"]["auditActions"] == [
        "project.create",
        "project.member_add",
        "project.member_role_change",
    ]
    assert await events(action="project.member_add") == [
        ("project.member_add", bob.email),
        ("project.member_add", ada.email),
    ]
    assert await events(actorId=bob.user_id) == [
        ("project.member_role_change", bob.email),
        ("project.member_add", bob.email),
    ]
    assert await events(actorId=bob.user_id, action="project.member_add") == [
        ("project.member_add", bob.email)
    ]
    assert await events(targetId=cat.user_id) == [
        ("project.member_role_change", bob.email),
        ("project.member_add", bob.email),
    ]
    assert await events(action="no.such_action") == []
    assert await events(actorId="not-an-id") == []


TARGETS = """
query Targets($id: ID!) {
  project(id: $id) {
    auditEvents { edges { node { action targetUser { email } } } }
  }
}
"""


async def test_member_events_name_the_person_they_are_about_even_after_they_left(
    gql: GraphQLClient, clock: FrozenClock
) -> None:
    ada = await sign_up(gql)
    bob = await sign_up(gql)
    project = await create_project(gql, ada)
    clock.advance(timedelta(seconds=1))
    await add_member(gql, ada, project["id"], bob.email, "MEMBER")
    clock.advance(timedelta(seconds=1))
    await gql.execute(
        REMOVE_MEMBER,
        {"input": {"projectId": project["id"], "userId": bob.user_id}},
        ada.access_token,
    )

    data = await gql.execute(TARGETS, {"id": project["id"]}, ada.access_token)

    events = [edge["node"] for edge in data["project"]["auditEvents"]["edges"]]
    assert events == [
        {"action": "project.member_remove", "targetUser": {"email": bob.email}},
        {"action": "project.member_add", "targetUser": {"email": bob.email}},
        {"action": "project.create", "targetUser": None},
    ]
