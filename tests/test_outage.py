"""The database going away: every API answers 503 with Retry-After in its own error shape, and
serves again once the database is back."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from app import db
from app.main import create_app
from app.settings import DatabaseConfig, Settings
from tests.conftest import TEST_HASHER, _empty_tables, live_http, running
from tests.fake_provider import FakeProvider
from tests.graphql_client import GraphQLClient, Session
from tests.helpers import VIEWER, add_llm_key, create_key, create_project, sign_up
from tests.tcp_relay import TcpRelay

MESSAGES = [{"role": "user", "content": "Hi"}]


@dataclass
class Service:
    url: str
    gql: GraphQLClient
    http: httpx.AsyncClient
    owner: Session
    key: str


async def _with_a_key(url: str, http: httpx.AsyncClient) -> Service:
    gql = GraphQLClient(http)
    owner = await sign_up(gql)
    project = await create_project(gql, owner)
    key = await create_key(gql, owner, project["id"])
    await add_llm_key(gql, owner, project["id"], "OPENAI")
    await add_llm_key(gql, owner, project["id"], "ANTHROPIC", secret_key="sk-ant-0123456789abcd")
    return Service(url=url, gql=gql, http=http, owner=owner, key=key["secret"])


@pytest.fixture
async def relay(database_url: str) -> AsyncIterator[TcpRelay]:
    if database_url.startswith("sqlite"):
        pytest.skip("a PostgreSQL server to cut off; SQLite's failures are simulated below")
    target = urlsplit(database_url)
    tcp = TcpRelay(target.hostname or "127.0.0.1", target.port or 5432)
    await tcp.start()
    try:
        yield tcp
    finally:
        await tcp.close()


def _through(database_url: str, relay: TcpRelay) -> str:
    parts = urlsplit(database_url)
    netloc = parts.netloc.rsplit(":", 1)[0] + f":{relay.port}"
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture
async def service(
    settings: Settings, fake_provider: FakeProvider, relay: TcpRelay
) -> AsyncIterator[Service]:
    configured = replace(
        settings,
        database=DatabaseConfig(url=_through(settings.database.url, relay), pool_max_size=4),
        proxy=replace(
            settings.proxy,
            openai_base_url=f"{fake_provider.base_url}/v1",
            anthropic_base_url=fake_provider.base_url,
        ),
    )
    db.activate(db.make_engine(configured.database))
    await _empty_tables()
    application = create_app(configured, hasher=TEST_HASHER)
    async with (
        running(application),
        live_http(application) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        yield await _with_a_key(url, http)


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"


async def test_graphql_answers_503_while_the_database_is_down(
    service: Service, relay: TcpRelay
) -> None:
    await relay.cut()

    signed_in = await service.gql.post(VIEWER, token=service.owner.access_token)
    with_a_key = await service.gql.post(VIEWER, token=service.key)
    anonymous = await service.gql.post(
        'mutation { signUp(input: {email: "x@example.com", password: "long enough pw", '
        'name: "X"}) { userErrors { code } } }'
    )

    for response in (signed_in, with_a_key, anonymous):
        _assert_unavailable(response)
        assert response.json() == {
            "errors": [
                {
                    "message": "The service cannot reach its database right now; retry shortly.",
                    "extensions": {"code": "SERVICE_UNAVAILABLE"},
                }
            ]
        }
    assert (await service.http.get("/readyz")).status_code == 503


async def test_the_proxy_answers_503_in_each_providers_shape(
    service: Service, relay: TcpRelay
) -> None:
    await relay.cut()

    openai_style = await service.http.post(
        "/v1/chat/completions",
        json={"model": "gpt-4o", "messages": MESSAGES},
        headers={"Authorization": f"Bearer {service.key}"},
    )
    anthropic_style = await service.http.post(
        "/v1/messages",
        json={"model": "claude-sonnet-4-6", "max_tokens": 8, "messages": MESSAGES},
        headers={"x-api-key": service.key, "anthropic-version": "2023-06-01"},
    )

    _assert_unavailable(openai_style)
    assert openai_style.json()["error"]["code"] == "service_unavailable"
    _assert_unavailable(anthropic_style)
    assert anthropic_style.json()["type"] == "error"
    assert anthropic_style.json()["error"]["type"] == "api_error"


async def test_everything_serves_again_once_the_database_is_back(
    service: Service, relay: TcpRelay
) -> None:
    await relay.cut()
    _assert_unavailable(await service.gql.post(VIEWER, token=service.owner.access_token))

    await relay.restore()

    # Connections the pool held died with the outage; it opens new ones as they are needed.
    for _ in range(20):
        response = await service.gql.post(VIEWER, token=service.owner.access_token)
        if response.status_code == 200:
            break
        await asyncio.sleep(0.1)
    assert response.status_code == 200
    proxied = await service.http.post(
        "/v1/chat/completions",
        json={"model": "gpt-4o", "messages": MESSAGES},
        headers={"Authorization": f"Bearer {service.key}"},
    )
    assert proxied.status_code == 200


async def test_a_sqlite_database_that_cannot_be_read_is_503_too(
    app: Any, gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch, engine_name: str
) -> None:
    if engine_name != "sqlite":
        pytest.skip("PostgreSQL's outage is the real one above")
    owner = await sign_up(gql)
    project = await create_project(gql, owner)
    key = await create_key(gql, owner, project["id"])
    lookup = app.state.services.api_key_authenticator._lookup

    async def disk_failure(key_id: str) -> Any:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(lookup, "find", disk_failure)

    graphql = await gql.post(VIEWER, token=key["secret"])
    proxied = await gql.http.post(
        "/v1/chat/completions",
        json={"model": "gpt-4o", "messages": MESSAGES},
        headers={"Authorization": f"Bearer {key['secret']}"},
    )

    _assert_unavailable(graphql)
    _assert_unavailable(proxied)
    assert proxied.json()["error"]["code"] == "service_unavailable"
