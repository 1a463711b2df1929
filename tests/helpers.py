"""Shared steps written as the API's users would take them."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from litestar import Litestar

from tests.graphql_client import GraphQLClient, Session

PASSWORD = "correct horse battery staple"

SIGN_UP = """
mutation SignUp($input: SignUpInput!) {
  signUp(input: $input) {
    accessToken accessTokenExpiresAt refreshToken
    user { id email name createdAt }
    userErrors { field message code }
  }
}
"""

LOG_IN = """
mutation LogIn($input: LogInInput!) {
  logIn(input: $input) {
    accessToken accessTokenExpiresAt refreshToken
    user { id email }
    userErrors { field message code }
  }
}
"""

REFRESH = """
mutation Refresh($input: RefreshSessionInput!) {
  refreshSession(input: $input) {
    accessToken refreshToken user { id }
    userErrors { field message code }
  }
}
"""

LOG_OUT = """
mutation LogOut($input: LogOutInput!) {
  logOut(input: $input) { ok userErrors { field message code } }
}
"""

CREATE_PROJECT = """
mutation CreateProject($input: CreateProjectInput!) {
  createProject(input: $input) {
    project { id name viewerRole createdAt }
    userErrors { field message code }
  }
}
"""

ADD_MEMBER = """
mutation AddMember($input: AddProjectMemberInput!) {
  addProjectMember(input: $input) {
    member { role user { id email } }
    userErrors { field message code }
  }
}
"""

REMOVE_MEMBER = """
mutation RemoveMember($input: RemoveProjectMemberInput!) {
  removeProjectMember(input: $input) {
    removedUserId
    userErrors { field message code }
  }
}
"""

PROJECT = """
query Project($id: ID!) {
  project(id: $id) {
    id name viewerRole
    members { totalCount edges { node { role user { id email } } } }
  }
}
"""

VIEWER = "{ viewer { __typename ... on User { id email } ... on Project { id name } } }"


def new_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


async def sign_up(
    gql: GraphQLClient, email: str | None = None, name: str = "Ada Lovelace"
) -> Session:
    email = email or new_email()
    data = await gql.execute(
        SIGN_UP, {"input": {"email": email, "password": PASSWORD, "name": name}}
    )
    payload = data["signUp"]
    assert payload["userErrors"] == [], payload["userErrors"]
    return Session(
        access_token=payload["accessToken"],
        refresh_token=payload["refreshToken"],
        user_id=payload["user"]["id"],
        email=payload["user"]["email"],
    )


async def log_in_again(gql: GraphQLClient, session: Session) -> Session:
    """A new session for the same person (e.g. once the clock moved past the first's tokens)."""
    data = await gql.execute(LOG_IN, {"input": {"email": session.email, "password": PASSWORD}})
    payload = data["logIn"]
    assert payload["userErrors"] == [], payload["userErrors"]
    return Session(
        access_token=payload["accessToken"],
        refresh_token=payload["refreshToken"],
        user_id=session.user_id,
        email=session.email,
    )


async def create_project(
    gql: GraphQLClient, session: Session, name: str = "Acme"
) -> dict[str, Any]:
    data = await gql.execute(CREATE_PROJECT, {"input": {"name": name}}, session.access_token)
    payload = data["createProject"]
    assert payload["userErrors"] == [], payload["userErrors"]
    project: dict[str, Any] = payload["project"]
    return project


async def add_member(
    gql: GraphQLClient, owner: Session, project_id: str, email: str, role: str
) -> dict[str, Any]:
    data = await gql.execute(
        ADD_MEMBER,
        {"input": {"projectId": project_id, "email": email, "role": role}},
        owner.access_token,
    )
    payload: dict[str, Any] = data["addProjectMember"]
    return payload


CREATE_KEY = """
mutation CreateKey($input: CreateApiKeyInput!) {
  createApiKey(input: $input) {
    secret
    apiKey { id note start status createdAt expiresAt lastUsedAt createdBy { id } }
    userErrors { field message code }
  }
}
"""

UPDATE_NOTE = """
mutation UpdateNote($input: UpdateApiKeyNoteInput!) {
  updateApiKeyNote(input: $input) {
    apiKey { id note start }
    userErrors { field message code }
  }
}
"""

DELETE_KEY = """
mutation DeleteKey($input: DeleteApiKeyInput!) {
  deleteApiKey(input: $input) { deletedApiKeyId userErrors { field message code } }
}
"""

API_KEYS = """
query Keys($id: ID!, $first: Int, $after: String, $search: String) {
  project(id: $id) {
    apiKeys(first: $first, after: $after, search: $search) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { id note start status expiresAt lastUsedAt } }
    }
  }
}
"""


async def create_key(
    gql: GraphQLClient,
    session: Session,
    project_id: str,
    note: str = "Production backend",
    expires_at: str | None = None,
) -> dict[str, Any]:
    """The createApiKey payload's `apiKey` plus the one-time `secret`."""
    data = await gql.execute(
        CREATE_KEY,
        {"input": {"projectId": project_id, "note": note, "expiresAt": expires_at}},
        session.access_token,
    )
    payload = data["createApiKey"]
    assert payload["userErrors"] == [], payload["userErrors"]
    key: dict[str, Any] = {**payload["apiKey"], "secret": payload["secret"]}
    return key


ADD_LLM_KEY = """
mutation AddLlmKey($input: AddLlmApiKeyInput!) {
  addLlmApiKey(input: $input) {
    llmApiKey {
      id provider secretHint customModels withDefaultModels createdAt updatedAt
      createdBy { id }
      models { id provider source }
    }
    userErrors { field message code }
  }
}
"""

UPDATE_LLM_KEY = """
mutation UpdateLlmKey($input: UpdateLlmApiKeyInput!) {
  updateLlmApiKey(input: $input) {
    llmApiKey {
      id provider secretHint customModels withDefaultModels updatedAt models { id source }
    }
    userErrors { field message code }
  }
}
"""

DELETE_LLM_KEY = """
mutation DeleteLlmKey($input: DeleteLlmApiKeyInput!) {
  deleteLlmApiKey(input: $input) { deletedLlmApiKeyId userErrors { field message code } }
}
"""

LLM_KEYS = """
query LlmKeys($id: ID!) {
  project(id: $id) {
    llmApiKeys { id provider secretHint customModels withDefaultModels }
    models { id provider source }
  }
}
"""


async def add_llm_key(
    gql: GraphQLClient,
    session: Session,
    project_id: str,
    provider: str = "OPENAI",
    secret_key: str = "sk-test-0123456789abcdefWXYZ",
    **fields: Any,
) -> dict[str, Any]:
    data = await gql.execute(
        ADD_LLM_KEY,
        {
            "input": {
                "projectId": project_id,
                "provider": provider,
                "secretKey": secret_key,
                **fields,
            }
        },
        session.access_token,
    )
    payload = data["addLlmApiKey"]
    assert payload["userErrors"] == [], payload["userErrors"]
    key: dict[str, Any] = payload["llmApiKey"]
    return key


def remove_right_after_rights_are_read(
    monkeypatch: pytest.MonkeyPatch,
    app: Litestar,
    gql: GraphQLClient,
    *,
    owner: Session,
    project_id: str,
    member: Session,
) -> list[str]:
    """From now on, the first time `member`'s rights are read, `owner` removes them from the
    project right after that read (and before whatever the member was doing goes on). The
    returned list names the removed member once it has happened."""
    access_control = app.state.services.access
    read_rights = access_control._read_access
    removed: list[str] = []

    async def rights_read_just_before_the_removal(principal: Any, checked: Any) -> Any:
        access = await read_rights(principal, checked)
        if str(principal.user_id) == member.user_id and not removed:
            removed.append(member.user_id)
            await gql.execute(
                REMOVE_MEMBER,
                {"input": {"projectId": project_id, "userId": member.user_id}},
                owner.access_token,
            )
        return access

    monkeypatch.setattr(access_control, "_read_access", rights_read_just_before_the_removal)
    return removed
