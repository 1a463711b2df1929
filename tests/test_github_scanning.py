"""GitHub's secret-scanning reports: signed with a key made here, served by a keys endpoint on
loopback, sent to the real service; live keys revoked (or alerted on), each place acted on once."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from litestar import Litestar

from app import db
from app.clock import FrozenClock
from app.security.principal import Principal
from app.settings import LeakedKeyAction, Settings
from app.usage.tables import SecurityAlert
from app.webhooks.events import WebhookEvent
from app.webhooks.tables import WebhookMessage
from tests.conftest import TEST_HASHER, _empty_tables, client_for, running
from tests.graphql_client import GraphQLClient, Session
from tests.helpers import DELETE_KEY, VIEWER, create_key, create_project, sign_up

REPORT_PATH = "/secret-scanning/github"
AUDIT = """
query($id: ID!) {
  project(id: $id) {
    auditEvents(first: 50) { edges { node { action actorSystem targetId details } } }
    securityAlerts { edges { node { kind apiKeyId evidence } } }
  }
}
"""


@dataclass
class GitHubKeysEndpoint:
    """GitHub's public keys list, as https://api.github.com/meta/public_keys/secret_scanning
    serves it, for keys made here."""

    keys: dict[str, ec.EllipticCurvePrivateKey] = field(default_factory=dict)
    requests: int = 0
    down: bool = False
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/meta/public_keys/secret_scanning"

    def new_key(self, key_id: str) -> ec.EllipticCurvePrivateKey:
        self.keys[key_id] = ec.generate_private_key(ec.SECP256R1())
        return self.keys[key_id]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/meta/public_keys/secret_scanning", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _serve(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.down:
            return web.Response(status=502)
        public_keys = [
            {
                "key_identifier": key_id,
                "key": key.public_key()
                .public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                .decode(),
                "is_current": True,
            }
            for key_id, key in self.keys.items()
        ]
        return web.json_response({"public_keys": public_keys})


def signed(body: bytes, key: ec.EllipticCurvePrivateKey, key_id: str) -> dict[str, str]:
    signature = key.sign(body, ec.ECDSA(hashes.SHA256()))
    return {
        "Content-Type": "application/json",
        "Github-Public-Key-Identifier": key_id,
        "Github-Public-Key-Signature": base64.b64encode(signature).decode(),
    }


def report_of(*tokens: str, url: str = "https://github.com/octo/app/blob/abc/.env") -> bytes:
    return json.dumps(
        [{"token": t, "type": "traylinx_api_key", "url": url, "source": "content"} for t in tokens]
    ).encode()


@dataclass
class GitHub:
    app: Litestar
    http: httpx.AsyncClient
    gql: GraphQLClient
    keys: GitHubKeysEndpoint
    owner: Session
    project_id: str

    async def report(self, body: bytes, key_id: str = "k1", **headers: str) -> httpx.Response:
        key = self.keys.keys.get(key_id) or ec.generate_private_key(ec.SECP256R1())
        return await self.http.post(
            REPORT_PATH, content=body, headers={**signed(body, key, key_id), **headers}
        )

    async def trail(self) -> dict[str, Any]:
        data = await self.gql.execute(AUDIT, {"id": self.project_id}, self.owner.access_token)
        project: dict[str, Any] = data["project"]
        return project


@pytest.fixture
async def keys_endpoint() -> AsyncIterator[GitHubKeysEndpoint]:
    endpoint = GitHubKeysEndpoint()
    endpoint.new_key("k1")
    await endpoint.start()
    try:
        yield endpoint
    finally:
        await endpoint.stop()


async def _github(
    settings: Settings,
    clock: FrozenClock,
    keys: GitHubKeysEndpoint,
    action: LeakedKeyAction = LeakedKeyAction.REVOKE,
) -> AsyncIterator[GitHub]:
    from app.main import create_app

    db.activate(db.make_engine(settings.database))
    await _empty_tables()
    leaks = replace(settings.leaks, github_keys_url=keys.url, action=action)
    application = create_app(replace(settings, leaks=leaks), clock=clock, hasher=TEST_HASHER)
    async with running(application), client_for(application) as http:
        gql = GraphQLClient(http)
        owner = await sign_up(gql)
        project = await create_project(gql, owner)
        yield GitHub(application, http, gql, keys, owner, project["id"])


@pytest.fixture
async def github(
    settings: Settings, clock: FrozenClock, keys_endpoint: GitHubKeysEndpoint
) -> AsyncIterator[GitHub]:
    async for github in _github(settings, clock, keys_endpoint):
        yield github


@pytest.fixture
async def alerting_github(
    settings: Settings, clock: FrozenClock, keys_endpoint: GitHubKeysEndpoint
) -> AsyncIterator[GitHub]:
    async for github in _github(settings, clock, keys_endpoint, LeakedKeyAction.ALERT):
        yield github


async def test_a_live_key_found_in_public_is_revoked_alerted_and_audited(github: GitHub) -> None:
    key = await create_key(github.gql, github.owner, github.project_id, note="Deploy bot")

    response = await github.report(report_of(key["secret"]))
    after = await github.http.post(
        "/graphql",
        json={"query": VIEWER},
        headers={"Authorization": f"Bearer {key['secret']}"},
    )
    trail = await github.trail()

    assert response.status_code == 200
    assert response.json() == [
        {
            "token_hash": hashlib.sha256(key["secret"].encode()).hexdigest(),
            "token_type": "traylinx_api_key",
            "label": "true_positive",
        }
    ]
    assert after.status_code == 401
    [alert] = [edge["node"] for edge in trail["securityAlerts"]["edges"]]
    assert alert["kind"] == "KEY_LEAKED"
    assert alert["apiKeyId"] == key["id"]
    assert alert["evidence"] == {
        "reportedBy": "github_secret_scanning",
        "action": "revoked",
        "url": "https://github.com/octo/app/blob/abc/.env",
        "source": "content",
    }
    revoked = [
        edge["node"]
        for edge in trail["auditEvents"]["edges"]
        if edge["node"]["action"] == "api_key.revoke_leaked"
    ]
    assert revoked[0]["actorSystem"] == "github_secret_scanning"
    assert revoked[0]["targetId"] == key["id"]
    assert revoked[0]["details"]["foundAt"] == "https://github.com/octo/app/blob/abc/.env"
    assert key["secret"] not in response.text


async def test_a_replayed_or_repeated_report_acts_once(github: GitHub) -> None:
    key = await create_key(github.gql, github.owner, github.project_id)
    body = report_of(key["secret"], key["secret"])

    first = await github.report(body)
    again = await github.report(body)
    trail = await github.trail()

    assert [item["label"] for item in first.json()] == ["true_positive", "true_positive"]
    assert again.json() == first.json()
    assert len(trail["securityAlerts"]["edges"]) == 1
    actions = [edge["node"]["action"] for edge in trail["auditEvents"]["edges"]]
    assert actions.count("api_key.revoke_leaked") == 1


async def test_with_the_alert_action_the_key_stays_and_each_place_alerts_once(
    alerting_github: GitHub,
) -> None:
    github = alerting_github
    key = await create_key(github.gql, github.owner, github.project_id)

    await github.report(report_of(key["secret"], url="https://github.com/a/b/blob/1/x"))
    await github.report(report_of(key["secret"], url="https://github.com/a/b/blob/1/x"))
    await github.report(report_of(key["secret"], url="https://gist.github.com/a/1"))
    still = await github.http.post(
        "/graphql", json={"query": VIEWER}, headers={"Authorization": f"Bearer {key['secret']}"}
    )
    trail = await github.trail()

    assert still.status_code == 200
    alerts = [edge["node"] for edge in trail["securityAlerts"]["edges"]]
    assert sorted(alert["evidence"]["url"] for alert in alerts) == [
        "https://gist.github.com/a/1",
        "https://github.com/a/b/blob/1/x",
    ]
    assert {alert["evidence"]["action"] for alert in alerts} == {"alerted"}


async def test_what_is_not_a_live_key_of_ours_is_labelled_and_left_alone(github: GitHub) -> None:
    deleted = await create_key(github.gql, github.owner, github.project_id)
    await github.gql.execute(
        DELETE_KEY, {"input": {"id": deleted["id"]}}, github.owner.access_token
    )
    live = await create_key(github.gql, github.owner, github.project_id)
    bad_checksum = live["secret"][:-1] + ("A" if live["secret"][-1] != "A" else "B")
    wrong_secret = live["secret"][:17] + "0" * 32 + live["secret"][-6:]

    response = await github.report(
        report_of(deleted["secret"], bad_checksum, wrong_secret, "not-a-key-at-all")
    )

    assert [item["label"] for item in response.json()] == [
        "true_positive",
        "false_positive",
        "false_positive",
        "false_positive",
    ]
    assert await SecurityAlert.count() == 0


async def test_an_unsigned_or_missigned_report_is_401_and_changes_nothing(
    github: GitHub,
) -> None:
    key = await create_key(github.gql, github.owner, github.project_id)
    body = report_of(key["secret"])
    other = ec.generate_private_key(ec.SECP256R1())

    unsigned = await github.http.post(
        REPORT_PATH, content=body, headers={"Content-Type": "application/json"}
    )
    by_another_key = await github.http.post(
        REPORT_PATH, content=body, headers=signed(body, other, "k1")
    )
    tampered = await github.http.post(
        REPORT_PATH,
        content=body.replace(b"content", b"commit!"),
        headers=signed(body, github.keys.keys["k1"], "k1"),
    )
    not_base64 = await github.report(body, **{"Github-Public-Key-Signature": "%%%"})
    unknown_key = await github.report(body, key_id="k-unknown")

    assert [
        r.status_code for r in (unsigned, by_another_key, tampered, not_base64, unknown_key)
    ] == [401] * 5
    assert await SecurityAlert.count() == 0
    assert await WebhookMessage.count() == 0


async def test_a_new_key_identifier_is_fetched_and_unknown_ones_do_not_flood_github(
    github: GitHub,
) -> None:
    live = await create_key(github.gql, github.owner, github.project_id)
    assert (await github.report(report_of("x"))).status_code == 200
    fetched = github.keys.requests

    github.keys.new_key("k2")
    # Made-up identifiers right after a fetch are refused without asking GitHub again...
    for n in range(5):
        assert (await github.report(report_of("x"), key_id=f"forged-{n}")).status_code == 401
    assert github.keys.requests == fetched
    # ...and once the minute is over, a real new identifier is fetched and accepted.
    github.app.state.services.github_keys._fetched_at -= 61
    accepted = await github.report(report_of(live["secret"]), key_id="k2")

    assert accepted.status_code == 200
    assert accepted.json()[0]["label"] == "true_positive"
    assert github.keys.requests == fetched + 1


async def test_while_githubs_keys_cannot_be_read_reports_are_503(
    settings: Settings, clock: FrozenClock, keys_endpoint: GitHubKeysEndpoint
) -> None:
    keys_endpoint.down = True
    async for github in _github(settings, clock, keys_endpoint):
        response = await github.report(report_of("x"))

        assert response.status_code == 503
        assert response.headers["retry-after"] == "60"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not JSON"),
        (b'{"token": "x"}', "JSON array"),
        (b'[{"tok": "x"}]', "string `token`"),
        (b'[{"token": "x", "url": 5}]', "must be strings"),
        (json.dumps([{"token": "x"}] * 1001).encode(), "At most 1000"),
    ],
)
async def test_a_signed_but_malformed_report_is_400(
    github: GitHub, body: bytes, message: str
) -> None:
    response = await github.report(body)

    assert response.status_code == 400
    assert message in response.json()["message"]


async def test_a_report_over_a_mebibyte_is_413(github: GitHub) -> None:
    body = report_of("x" * 2_000_000)

    response = await github.report(body)

    assert response.status_code == 413


async def test_a_leak_tells_the_projects_webhooks(github: GitHub) -> None:
    services = github.app.state.services

    await services.webhooks.add(
        Principal.user(uuid.UUID(github.owner.user_id)),
        project_id=uuid.UUID(github.project_id),
        url="https://hooks.example.com/traylinx",
        events=[WebhookEvent.KEY_LEAKED, WebhookEvent.API_KEY_DELETED],
    )
    key = await create_key(github.gql, github.owner, github.project_id)

    await github.report(report_of(key["secret"]))

    messages = await WebhookMessage.select(WebhookMessage.event, WebhookMessage.payload)
    by_event = {row["event"]: json.loads(row["payload"]) for row in messages}
    assert set(by_event) == {"KEY_LEAKED", "API_KEY_DELETED"}
    assert by_event["KEY_LEAKED"]["data"]["action"] == "revoked"
    assert by_event["API_KEY_DELETED"]["data"]["reason"] == "leaked"
    assert key["secret"] not in json.dumps(by_event)
