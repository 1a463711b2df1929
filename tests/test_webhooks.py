"""Webhooks: registering endpoints, and deliveries to a real receiver on loopback, signed per the
Standard Webhooks specification, retried, disabled, and never sent anywhere they must not go."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar

from app import db
from app.clock import FrozenClock
from app.graphql.scalars import parse_datetime
from app.security.crypto import EncryptionKey, Keyring
from app.settings import Settings
from app.usage.recorder import UsageRecord
from app.webhooks.dispatcher import JITTER, RETRY_DELAYS, RETRY_WINDOW
from app.webhooks.events import WebhookEvent
from app.webhooks.notices import Notices
from app.webhooks.tables import Webhook, WebhookDelivery, WebhookMessage
from tests.conftest import TEST_HASHER, _empty_tables, client_for, running
from tests.graphql_client import GraphQLClient, Session
from tests.helpers import (
    DELETE_KEY,
    add_llm_key,
    add_member,
    create_key,
    create_project,
    log_in_again,
    sign_up,
)
from tests.webhook_receiver import Behaviour, Delivered, Receiver

ADD = """
mutation($input: AddWebhookInput!) {
  addWebhook(input: $input) {
    webhook { id url events enabled createdAt }
    secret
    userErrors { field message code }
  }
}
"""
UPDATE = """
mutation($input: UpdateWebhookInput!) {
  updateWebhook(input: $input) {
    webhook { id url events enabled disabledAt }
    userErrors { field message code }
  }
}
"""
DELETE = """
mutation($input: WebhookIdInput!) {
  deleteWebhook(input: $input) { deletedWebhookId userErrors { field message code } }
}
"""
ROTATE = """
mutation($input: WebhookIdInput!) {
  rotateWebhookSecret(input: $input) {
    webhook { id previousSecretValidUntil } secret userErrors { field message code }
  }
}
"""
SEND_TEST = """
mutation($input: WebhookIdInput!) {
  sendTestWebhook(input: $input) {
    delivery { id event status attempts } userErrors { field message code }
  }
}
"""
WEBHOOKS = """
query($id: ID!) {
  project(id: $id) {
    webhooks {
      id url events enabled failingSince disabledAt disabledReason
      deliveries {
        totalCount
        edges { node {
          id messageId event status attempts responseStatus responseTimeMs error createdAt
          deliveredAt nextAttemptAt
        } }
      }
    }
  }
}
"""
AUDIT = """
query($id: ID!) {
  project(id: $id) { auditEvents(first: 50) { edges { node { action actorSystem details } } } }
}
"""


@dataclass
class Hooks:
    """A project with an owner, a receiver on loopback, and the service able to reach it."""

    app: Litestar
    gql: GraphQLClient
    clock: FrozenClock
    receiver: Receiver
    owner: Session
    project_id: str

    @property
    def services(self) -> Any:
        return self.app.state.services

    async def add(
        self, events: list[str], url: str | None = None, **fields: Any
    ) -> tuple[dict[str, Any], str]:
        data = await self.gql.execute(
            ADD,
            {
                "input": {
                    "projectId": self.project_id,
                    "url": url or self.receiver.url(),
                    "events": events,
                    **fields,
                }
            },
            self.owner.access_token,
        )
        payload = data["addWebhook"]
        assert payload["userErrors"] == [], payload["userErrors"]
        return payload["webhook"], payload["secret"]

    async def webhooks(self) -> list[dict[str, Any]]:
        data = await self.gql.execute(WEBHOOKS, {"id": self.project_id}, self.owner.access_token)
        hooks: list[dict[str, Any]] = data["project"]["webhooks"]
        return hooks

    async def deliveries(self, index: int = 0) -> list[dict[str, Any]]:
        hooks = await self.webhooks()
        return [edge["node"] for edge in hooks[index]["deliveries"]["edges"]]

    async def settled(self) -> None:
        """Until no delivery is being sent: what was sent is recorded."""
        # Rows in the database, not an event of this process: looked at every 20 ms, for 10 s.
        for _ in range(500):
            if not await WebhookDelivery.exists().where(WebhookDelivery.claimed_by.is_not_null()):
                return
            await asyncio.sleep(0.02)
        raise AssertionError("deliveries still being sent after 10 s")

    async def attempted_all(self) -> None:
        """Until every delivery due now has been tried and its outcome recorded, whichever
        process's dispatcher (the app's own, or this call) tried it."""
        for _ in range(500):
            await self.services.webhook_dispatcher.send_due()
            await self.settled()
            due = WebhookDelivery.exists().where(
                (WebhookDelivery.status == "PENDING")
                & (WebhookDelivery.next_attempt_at <= self.clock.now())
            )
            if not await due:
                return
            await asyncio.sleep(0.02)
        raise AssertionError("deliveries due but not tried after 10 s")

    async def sent(self, count: int) -> list[Delivered]:
        """Until `count` requests have reached the receiver and been recorded."""
        received = await self.receiver.wait_for(count)
        await self.settled()
        return received

    async def relogin(self) -> None:
        """After simulated days the access token has expired."""
        self.owner = await log_in_again(self.gql, self.owner)

    async def later(self, delta: timedelta) -> None:
        """Time passes; what is due then is sent and its outcome recorded."""
        self.clock.advance(delta)
        # Not one round and a look: on PostgreSQL the app's own round may hold a claim it has
        # not committed yet, which this round skips and a look does not see.
        await self.attempted_all()


def _hook_settings(settings: Settings, **webhooks: Any) -> Settings:
    config = replace(settings.webhooks, allow_private_networks=True, timeout=2.0, **webhooks)
    return replace(settings, webhooks=config)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


@pytest.fixture
async def hooks(settings: Settings, clock: FrozenClock, receiver: Receiver) -> AsyncIterator[Hooks]:
    db.activate(db.make_engine(settings.database))
    await _empty_tables()
    application = create_hook_app(_hook_settings(settings), clock)
    async with running(application), client_for(application) as http:
        gql = GraphQLClient(http)
        owner = await sign_up(gql)
        project = await create_project(gql, owner)
        yield Hooks(application, gql, clock, receiver, owner, project["id"])


def create_hook_app(settings: Settings, clock: FrozenClock) -> Litestar:
    from app.main import create_app

    return create_app(settings, clock=clock, hasher=TEST_HASHER)


# --- Registering -------------------------------------------------------------------------------


async def test_a_webhook_is_added_with_its_secret_shown_once(hooks: Hooks) -> None:
    webhook, secret = await hooks.add(["API_KEY_CREATED", "KEY_LEAKED"])

    listed = await hooks.webhooks()

    assert secret.startswith("whsec_")
    assert webhook["events"] == ["API_KEY_CREATED", "KEY_LEAKED"]
    assert webhook["enabled"] is True
    assert listed[0]["id"] == webhook["id"]
    assert secret not in json.dumps(listed)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://xn--a.com/hook", "not a valid URL"),
        ("https://exa mple.com/hook", "not a valid URL"),
        ("ftp://hooks.example.com/x", "http:// or https://"),
        ("https://", "name a host"),
        ("https://user:pass@hooks.example.com/x", "user name or password"),
        ("https://hooks.example.com/x#frag", "fragment"),
        ("https://hooks.example.com/" + "a" * 2100, "2048"),
        ("http://localhost:8080/x", "localhost"),
        ("http://127.0.0.1/x", "loopback"),
        ("http://10.0.0.8/x", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[::1]/x", "loopback"),
        ("http://[::ffff:192.168.0.1]/x", "private"),
        ("http://100.64.0.1/x", "not a public address"),
    ],
)
async def test_urls_we_will_not_call_are_refused_with_the_reason(
    app: Litestar, gql: GraphQLClient, url: str, message: str
) -> None:
    owner = await sign_up(gql)
    project = await create_project(gql, owner)

    data = await gql.execute(
        ADD,
        {"input": {"projectId": project["id"], "url": url, "events": ["API_KEY_CREATED"]}},
        owner.access_token,
    )

    payload = data["addWebhook"]
    assert payload["webhook"] is None
    assert payload["userErrors"][0]["field"] == ["url"]
    assert message in payload["userErrors"][0]["message"]


async def test_events_must_be_given_and_subscribable(hooks: Hooks) -> None:
    async def refused(events: list[str]) -> list[dict[str, Any]]:
        data = await hooks.gql.execute(
            ADD,
            {
                "input": {
                    "projectId": hooks.project_id,
                    "url": hooks.receiver.url(),
                    "events": events,
                }
            },
            hooks.owner.access_token,
        )
        errors: list[dict[str, Any]] = data["addWebhook"]["userErrors"]
        return errors

    none = await refused([])
    test_only = await refused(["WEBHOOK_TEST"])
    unknown = await hooks.gql.errors(
        ADD,
        {"input": {"projectId": hooks.project_id, "url": hooks.receiver.url(), "events": ["NOPE"]}},
        hooks.owner.access_token,
    )

    assert none[0]["field"] == ["events"]
    assert "WEBHOOK_TEST" in test_only[0]["message"]
    assert unknown[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert await hooks.webhooks() == []


async def test_a_project_has_at_most_20_webhooks(hooks: Hooks) -> None:
    for _ in range(20):
        await hooks.add(["API_KEY_CREATED"])

    data = await hooks.gql.execute(
        ADD,
        {
            "input": {
                "projectId": hooks.project_id,
                "url": hooks.receiver.url(),
                "events": ["API_KEY_CREATED"],
            }
        },
        hooks.owner.access_token,
    )

    assert "at most 20" in data["addWebhook"]["userErrors"][0]["message"]


async def test_members_and_project_keys_neither_see_nor_change_webhooks(hooks: Hooks) -> None:
    webhook, _ = await hooks.add(["API_KEY_CREATED"])
    member = await sign_up(hooks.gql)
    await add_member(hooks.gql, hooks.owner, hooks.project_id, member.email, "MEMBER")
    key = await create_key(hooks.gql, hooks.owner, hooks.project_id)

    as_member = await hooks.gql.errors(WEBHOOKS, {"id": hooks.project_id}, member.access_token)
    as_key = await hooks.gql.errors(WEBHOOKS, {"id": hooks.project_id}, key["secret"])
    deleted = await hooks.gql.execute(DELETE, {"input": {"id": webhook["id"]}}, member.access_token)

    assert as_member[0]["extensions"]["code"] == "FORBIDDEN"
    assert as_key[0]["extensions"]["code"] == "FORBIDDEN"
    assert deleted["deleteWebhook"]["userErrors"][0]["code"] == "FORBIDDEN"
    assert len(await hooks.webhooks()) == 1


async def test_changes_to_webhooks_are_audited_without_the_url_path(hooks: Hooks) -> None:
    webhook, _ = await hooks.add(["API_KEY_CREATED"], url=hooks.receiver.url("/t/SECRET-TOKEN"))
    await hooks.gql.execute(ROTATE, {"input": {"id": webhook["id"]}}, hooks.owner.access_token)
    await hooks.gql.execute(DELETE, {"input": {"id": webhook["id"]}}, hooks.owner.access_token)

    data = await hooks.gql.execute(AUDIT, {"id": hooks.project_id}, hooks.owner.access_token)

    events = [edge["node"] for edge in data["project"]["auditEvents"]["edges"]]
    actions = [event["action"] for event in events]
    assert {"webhook.add", "webhook.rotate_secret", "webhook.delete"} <= set(actions)
    assert "SECRET-TOKEN" not in json.dumps(events)
    added = next(event for event in events if event["action"] == "webhook.add")
    assert added["details"] == {"host": "127.0.0.1", "events": ["API_KEY_CREATED"]}


# --- Delivering --------------------------------------------------------------------------------


async def test_a_new_api_key_is_delivered_signed_and_without_its_secret(hooks: Hooks) -> None:
    _, secret = await hooks.add(["API_KEY_CREATED"])

    key = await create_key(hooks.gql, hooks.owner, hooks.project_id, note="CI pipeline")
    [delivered] = await hooks.sent(1)

    payload = delivered.verify(secret)
    assert payload["type"] == "api_key.created"
    assert payload["data"]["apiKeyId"] == key["id"]
    assert payload["data"]["note"] == "CI pipeline"
    assert payload["data"]["projectId"] == hooks.project_id
    assert key["secret"] not in delivered.body.decode()
    assert delivered.headers["webhook-id"].startswith("msg_")
    assert delivered.headers["content-type"] == "application/json"


async def test_each_event_reaches_only_the_webhooks_that_asked_for_it(hooks: Hooks) -> None:
    await hooks.add(["API_KEY_DELETED"], url=hooks.receiver.url("/deleted"))
    await hooks.add(["LLM_API_KEY_CHANGED"], url=hooks.receiver.url("/llm"))
    key = await create_key(hooks.gql, hooks.owner, hooks.project_id)

    await hooks.gql.execute(DELETE_KEY, {"input": {"id": key["id"]}}, hooks.owner.access_token)
    await add_llm_key(hooks.gql, hooks.owner, hooks.project_id)
    received = await hooks.sent(2)

    by_path = {delivered.path: delivered.payload for delivered in received}
    assert set(by_path) == {"/deleted", "/llm"}
    assert by_path["/deleted"]["type"] == "api_key.deleted"
    assert by_path["/deleted"]["data"]["reason"] == "deleted"
    assert by_path["/llm"]["type"] == "llm_api_key.changed"
    assert by_path["/llm"]["data"]["change"] == "added"
    assert "sk-test" not in json.dumps(by_path)


async def test_a_security_alert_is_delivered(hooks: Hooks) -> None:
    _, secret = await hooks.add(["SECURITY_ALERT_RAISED"])
    key = await create_key(hooks.gql, hooks.owner, hooks.project_id)
    await hooks.gql.execute(DELETE_KEY, {"input": {"id": key["id"]}}, hooks.owner.access_token)

    # The deleted key presented again: a REVOKED_KEY_IN_USE alert, raised by the usage ingest.
    hooks.services.usage_recorder.record(
        UsageRecord(
            project_id=uuid.UUID(hooks.project_id),
            api_key_id=key["id"],
            endpoint="/graphql",
            status=401,
            latency_ms=1,
            at=hooks.clock.now(),
            client_ip="203.0.113.9",
            auth_failure="revoked",
        )
    )
    await hooks.services.usage_recorder.flush()
    [delivered] = await hooks.sent(1)

    payload = delivered.verify(secret)
    assert payload["type"] == "security_alert.raised"
    assert payload["data"]["kind"] == "REVOKED_KEY_IN_USE"
    assert payload["data"]["apiKeyId"] == key["id"]
    assert payload["data"]["evidence"]["ip"] == "203.0.113.9"


async def test_a_failing_endpoint_is_retried_with_backoff_and_the_same_message_id(
    hooks: Hooks,
) -> None:
    _, secret = await hooks.add(["API_KEY_CREATED"])
    hooks.receiver.behaviour = Behaviour(status=500)

    await create_key(hooks.gql, hooks.owner, hooks.project_id)
    await hooks.sent(1)
    first = (await hooks.deliveries())[0]
    hooks.receiver.behaviour = Behaviour(status=204)
    await hooks.later(timedelta(seconds=7))
    not_yet = len(hooks.receiver.received)
    await hooks.later(timedelta(seconds=6))
    second = await hooks.sent(2)
    done = (await hooks.deliveries())[0]

    assert (first["status"], first["attempts"], first["responseStatus"]) == ("PENDING", 1, 500)
    assert first["error"] == "HTTP 500"
    # The first retry comes 8 to 12 seconds later (10 s give or take a fifth).
    assert not_yet == 1
    assert len(hooks.receiver.received) == 2
    assert second[0].message_id == second[1].message_id
    assert second[1].verify(secret)["type"] == "api_key.created"
    assert (done["status"], done["attempts"], done["responseStatus"]) == ("SUCCEEDED", 2, 204)
    assert done["error"] is None
    assert done["deliveredAt"] is not None


async def test_retries_stop_after_24_hours(hooks: Hooks) -> None:
    await hooks.add(["API_KEY_CREATED"])
    hooks.receiver.behaviour = Behaviour(status=503)
    await create_key(hooks.gql, hooks.owner, hooks.project_id)
    await hooks.sent(1)

    waits = []
    elapsed = timedelta(0)
    while (await hooks.deliveries())[0]["status"] == "PENDING":
        due = (await hooks.deliveries())[0]["nextAttemptAt"]
        wait = parse_datetime(due) - hooks.clock.now()
        waits.append(wait)
        elapsed += wait
        await hooks.later(wait)
        await hooks.relogin()

    delivery = (await hooks.deliveries())[0]
    assert delivery["status"] == "FAILED"
    assert elapsed == RETRY_WINDOW
    # Each wait its step of the schedule give or take a fifth (the last step repeating), but
    # the last, cut short at the window's end.
    steps = [RETRY_DELAYS[min(n, len(RETRY_DELAYS) - 1)] for n in range(len(waits))]
    assert all(
        step * (1 - JITTER) <= wait <= step * (1 + JITTER)
        for wait, step in zip(waits[:-1], steps, strict=False)
    )
    assert waits[-1] <= steps[-1] * (1 + JITTER)
    assert delivery["attempts"] == len(waits) + 1
    assert len(hooks.receiver.received) == delivery["attempts"]


async def test_an_endpoint_failing_for_three_days_is_disabled_and_the_project_told(
    hooks: Hooks,
) -> None:
    webhook, _ = await hooks.add(["API_KEY_CREATED"])
    hooks.receiver.behaviour = Behaviour(status=500)

    for _ in range(3):  # a key a day, each failing
        await create_key(hooks.gql, hooks.owner, hooks.project_id)
        await hooks.attempted_all()  # before time moves on
        hooks.clock.advance(timedelta(days=1))
        await hooks.relogin()
    # Three days after the first failure, the next failed attempt disables the endpoint.
    await create_key(hooks.gql, hooks.owner, hooks.project_id)
    await hooks.attempted_all()
    listed = (await hooks.webhooks())[0]
    audit = await hooks.gql.execute(AUDIT, {"id": hooks.project_id}, hooks.owner.access_token)
    # The fourth key's delivery exists unless the third's last retry disabled it first.
    queued_when_disabled = len(await hooks.deliveries())
    await create_key(hooks.gql, hooks.owner, hooks.project_id)

    assert listed["enabled"] is False
    assert listed["disabledAt"] is not None
    assert "failed for 3 days" in listed["disabledReason"]
    disabled = [
        edge["node"]
        for edge in audit["project"]["auditEvents"]["edges"]
        if edge["node"]["action"] == "webhook.disable"
    ]
    assert disabled[0]["actorSystem"] == "webhooks"
    deliveries = await hooks.deliveries()
    assert len(deliveries) == queued_when_disabled in (3, 4)  # nothing queued once disabled
    assert {d["status"] for d in deliveries} == {"FAILED"}

    enabled = await hooks.gql.execute(
        UPDATE, {"input": {"id": webhook["id"], "enabled": True}}, hooks.owner.access_token
    )
    assert enabled["updateWebhook"]["webhook"]["disabledAt"] is None


async def test_redirects_are_not_followed(hooks: Hooks) -> None:
    await hooks.add(["API_KEY_CREATED"])
    hooks.receiver.behaviour = Behaviour(redirect_to=hooks.receiver.url("/elsewhere"))

    await create_key(hooks.gql, hooks.owner, hooks.project_id)
    await hooks.sent(1)
    delivery = (await hooks.deliveries())[0]

    assert [d.path for d in hooks.receiver.received] == ["/hooks"]
    assert delivery["responseStatus"] == 302
    assert delivery["error"] == "redirect not followed (HTTP 302)"


async def test_a_huge_answer_is_read_no_further_than_64_kib(hooks: Hooks) -> None:
    await hooks.add(["API_KEY_CREATED"])
    hooks.receiver.behaviour = Behaviour(body_bytes=50 * 1024 * 1024)

    await create_key(hooks.gql, hooks.owner, hooks.project_id)
    await hooks.sent(1)
    await hooks.later(timedelta(0))
    delivery = (await hooks.deliveries())[0]

    assert delivery["status"] == "SUCCEEDED"
    assert delivery["responseTimeMs"] < 2000


async def test_a_slow_endpoint_times_out(hooks: Hooks) -> None:
    await hooks.add(["API_KEY_CREATED"])
    hooks.receiver.behaviour = Behaviour(delay_s=5)

    await create_key(hooks.gql, hooks.owner, hooks.project_id)
    await hooks.sent(1)
    await hooks.later(timedelta(0))
    delivery = (await hooks.deliveries())[0]

    assert delivery["status"] == "PENDING"
    assert delivery["responseStatus"] is None
    assert delivery["error"] == "no answer within 2 s"


async def test_an_endpoint_that_is_down_is_retried(hooks: Hooks, receiver: Receiver) -> None:
    await hooks.add(["API_KEY_CREATED"])
    port = receiver.port
    await receiver.stop()

    await create_key(hooks.gql, hooks.owner, hooks.project_id)
    await hooks.later(timedelta(0))
    delivery = (await hooks.deliveries())[0]
    await receiver.start(port)
    await hooks.later(timedelta(seconds=13))

    assert delivery["error"] == "could not connect"
    assert (await hooks.deliveries())[0]["status"] == "SUCCEEDED"


async def test_a_rotated_secret_signs_alongside_the_previous_one_for_a_day(hooks: Hooks) -> None:
    webhook, old_secret = await hooks.add(["API_KEY_CREATED"])

    data = await hooks.gql.execute(
        ROTATE, {"input": {"id": webhook["id"]}}, hooks.owner.access_token
    )
    new_secret = data["rotateWebhookSecret"]["secret"]
    await create_key(hooks.gql, hooks.owner, hooks.project_id)
    [during] = await hooks.sent(1)
    hooks.clock.advance(timedelta(hours=25))
    await hooks.relogin()
    await create_key(hooks.gql, hooks.owner, hooks.project_id)
    await hooks.later(timedelta(0))
    after = hooks.receiver.received[1]

    assert new_secret != old_secret
    assert data["rotateWebhookSecret"]["webhook"]["previousSecretValidUntil"] is not None
    assert during.signed_with(new_secret)
    assert during.signed_with(old_secret)
    assert after.signed_with(new_secret)
    assert not after.signed_with(old_secret)


async def test_a_test_delivery_reaches_even_a_disabled_webhook_and_is_tried_once(
    hooks: Hooks,
) -> None:
    webhook, secret = await hooks.add(["KEY_LEAKED"], enabled=False)

    sent = await hooks.gql.execute(
        SEND_TEST, {"input": {"id": webhook["id"]}}, hooks.owner.access_token
    )
    [delivered] = await hooks.sent(1)
    hooks.receiver.behaviour = Behaviour(status=500)
    hooks.clock.advance(timedelta(seconds=1))
    await hooks.gql.execute(SEND_TEST, {"input": {"id": webhook["id"]}}, hooks.owner.access_token)
    await hooks.sent(2)
    await hooks.later(timedelta(minutes=1))

    assert sent["sendTestWebhook"]["delivery"]["event"] == "WEBHOOK_TEST"
    assert delivered.verify(secret)["type"] == "webhook.test"
    statuses = [d["status"] for d in await hooks.deliveries()]
    assert statuses == ["FAILED", "SUCCEEDED"]
    assert len(hooks.receiver.received) == 2


async def test_a_disabled_or_deleted_webhook_gets_nothing(hooks: Hooks) -> None:
    first, _ = await hooks.add(["API_KEY_CREATED"], url=hooks.receiver.url("/first"))
    second, _ = await hooks.add(["API_KEY_CREATED"], url=hooks.receiver.url("/second"))
    await hooks.gql.execute(
        UPDATE, {"input": {"id": first["id"], "enabled": False}}, hooks.owner.access_token
    )
    await hooks.gql.execute(DELETE, {"input": {"id": second["id"]}}, hooks.owner.access_token)

    await create_key(hooks.gql, hooks.owner, hooks.project_id)
    await hooks.later(timedelta(0))

    assert hooks.receiver.received == []
    assert await WebhookMessage.count() == 0
    assert await WebhookDelivery.count() == 0


async def test_a_change_that_fails_queues_no_message(hooks: Hooks) -> None:
    await hooks.add(["API_KEY_CREATED"])

    data = await hooks.gql.execute(
        "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { userErrors { code } } }",
        {"i": {"projectId": hooks.project_id, "note": ""}},
        hooks.owner.access_token,
    )

    assert data["createApiKey"]["userErrors"][0]["code"] == "INVALID"
    assert await WebhookMessage.count() == 0


async def test_a_rolled_back_transaction_queues_nothing(hooks: Hooks) -> None:
    await hooks.add(["API_KEY_CREATED"])

    async def change_that_fails() -> None:
        async with db.transaction():
            await hooks.services.outbox.publish(
                uuid.UUID(hooks.project_id),
                WebhookEvent.API_KEY_CREATED,
                {"apiKeyId": "x"},
                now=hooks.clock.now(),
            )
            raise RuntimeError("the change failed after its event was written")

    with pytest.raises(RuntimeError):
        await change_that_fails()

    assert await WebhookMessage.count() == 0
    assert await WebhookDelivery.count() == 0


# --- Notices: once per key and threshold --------------------------------------------------------


def _notices(hooks: Hooks) -> Notices:
    services = hooks.services
    return Notices(hooks.clock, services.settings.monitoring, services.outbox)


async def _messages(event: str) -> list[dict[str, Any]]:
    rows = await WebhookMessage.select(WebhookMessage.payload).where(WebhookMessage.event == event)
    return [json.loads(row["payload"]) for row in rows]


async def test_a_key_entering_its_expiry_warning_is_told_once(hooks: Hooks) -> None:
    await hooks.add(["KEY_EXPIRES_SOON"])
    soon = (hooks.clock.now() + timedelta(days=10)).isoformat()
    key = await create_key(hooks.gql, hooks.owner, hooks.project_id, expires_at=soon)
    await create_key(hooks.gql, hooks.owner, hooks.project_id)  # never expires

    before = await _notices(hooks).run(hooks.clock.now())
    hooks.clock.advance(timedelta(days=4))
    # Two processes looking at the same moment, and again later: one notice.
    first, second = await asyncio.gather(
        _notices(hooks).run(hooks.clock.now()), _notices(hooks).run(hooks.clock.now())
    )
    again = await _notices(hooks).run(hooks.clock.now() + timedelta(hours=1))
    [delivered] = await hooks.sent(1)

    assert (before, first + second, again) == (0, 1, 0)
    assert delivered.payload["type"] == "api_key.expires_soon"
    assert delivered.payload["data"]["apiKeyId"] == key["id"]
    assert delivered.payload["data"]["expiresInDays"] == 7


async def test_a_key_due_for_rotation_is_told_once(hooks: Hooks) -> None:
    key = await create_key(hooks.gql, hooks.owner, hooks.project_id)
    await hooks.add(["KEY_ROTATION_DUE"])

    early = await _notices(hooks).run(hooks.clock.now() + timedelta(days=89))
    due = await _notices(hooks).run(hooks.clock.now() + timedelta(days=91))
    later = await _notices(hooks).run(hooks.clock.now() + timedelta(days=120))

    assert (early, due, later) == (0, 1, 0)
    [message] = await _messages("KEY_ROTATION_DUE")
    assert message["data"]["apiKeyId"] == key["id"]
    assert message["data"]["rotationPeriodDays"] == 90


async def test_a_budget_passing_80_and_100_percent_is_told_once_each(hooks: Hooks) -> None:
    await hooks.add(["BUDGET_THRESHOLD_REACHED"])
    data = await hooks.gql.execute(
        """mutation($input: CreateApiKeyInput!) {
          createApiKey(input: $input) { apiKey { id } userErrors { message } } }""",
        {
            "input": {
                "projectId": hooks.project_id,
                "note": "budgeted",
                "policy": {"tokenBudget": {"limit": 100, "period": "DAY"}},
            }
        },
        hooks.owner.access_token,
    )
    key_id = data["createApiKey"]["apiKey"]["id"]

    async def spend(tokens: int) -> None:
        hooks.services.usage_recorder.record(
            UsageRecord(
                project_id=uuid.UUID(hooks.project_id),
                api_key_id=key_id,
                endpoint="/v1/chat/completions",
                status=200,
                latency_ms=5,
                at=hooks.clock.now(),
                model="gpt-4o",
                input_tokens=tokens,
                output_tokens=0,
            )
        )
        await hooks.services.usage_recorder.flush()

    await spend(70)
    below = await _notices(hooks).run(hooks.clock.now())
    await spend(15)
    at_80 = await _notices(hooks).run(hooks.clock.now())
    await spend(20)
    at_100 = await _notices(hooks).run(hooks.clock.now())
    again = await _notices(hooks).run(hooks.clock.now())

    assert (below, at_80, at_100, again) == (0, 1, 1, 0)
    messages = sorted(
        await _messages("BUDGET_THRESHOLD_REACHED"), key=lambda m: m["data"]["percent"]
    )
    assert [m["data"]["percent"] for m in messages] == [80, 100]
    assert messages[1]["data"] | {"periodStart": None, "resetsAt": None} == {
        "projectId": hooks.project_id,
        "owner": "key",
        "apiKeyId": key_id,
        "budget": "tokens",
        "percent": 100,
        "used": 105,
        "limit": 100,
        "period": "DAY",
        "periodStart": None,
        "resetsAt": None,
    }


async def test_a_secret_that_does_not_open_fails_its_own_deliveries_only(hooks: Hooks) -> None:
    broken, _ = await hooks.add(["API_KEY_CREATED"], url=hooks.receiver.url("/broken"))
    hooks.clock.advance(timedelta(seconds=1))  # listed first: webhooks are listed oldest first
    await hooks.add(["API_KEY_CREATED"], url=hooks.receiver.url("/fine"))
    # Sealed under a keyring this server does not have (as after a careless key rotation).
    other = Keyring([EncryptionKey.generate("test1")])
    sealed = other.encrypt("whsec_x", b"webhook:" + broken["id"].encode())
    async with db.transaction():
        await Webhook.update({Webhook.secret_ciphertext: sealed}).where(
            Webhook.id == uuid.UUID(broken["id"])
        )

    await create_key(hooks.gql, hooks.owner, hooks.project_id)
    [delivered] = await hooks.sent(1)
    await hooks.later(timedelta(0))
    failed = (await hooks.deliveries(0))[0]

    assert delivered.path == "/fine"
    assert failed["status"] == "PENDING"
    assert failed["error"] == "its signing secret does not open with the keyring"
