"""A GraphQL client for tests that reads like the API's users: query text in, data out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


class UnexpectedGraphQLErrors(AssertionError):
    pass


@dataclass
class Session:
    access_token: str
    refresh_token: str
    user_id: str
    email: str


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )

    async def execute(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """The `data` of a successful response; fails on any top-level error or non-200."""
        response = await self.post(query, variables, token)
        if response.status_code != 200:
            raise UnexpectedGraphQLErrors(f"HTTP {response.status_code}: {response.text}")
        body = response.json()
        if body.get("errors"):
            raise UnexpectedGraphQLErrors(body["errors"])
        data: dict[str, Any] = body["data"]
        return data

    async def errors(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> list[dict[str, Any]]:
        """The top-level errors of a response that is expected to have them."""
        response = await self.post(query, variables, token)
        assert response.status_code == 200, response.text
        errors: list[dict[str, Any]] = response.json().get("errors") or []
        assert errors, f"expected errors, got {response.text}"
        return errors
