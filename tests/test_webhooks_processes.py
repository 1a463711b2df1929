"""Webhook deliveries across real server processes: two sharing one outbox send each message
once; a server killed mid-delivery loses nothing, and its delivery is sent again, with the same
`webhook-id`, once its claim lapses."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_ENV
from tests.graphql_client import GraphQLClient, Session
from tests.helpers import create_key, create_project, log_in_again, sign_up
from tests.processes import ROOT, _wait_until_up, free_port, server_log
from tests.webhook_receiver import Behaviour, Receiver

ADD = """
mutation($input: AddWebhookInput!) {
  addWebhook(input: $input) { webhook { id } secret userErrors { message } }
}
"""
DELIVERIES = """
query($id: ID!) {
  project(id: $id) {
    webhooks { deliveries(first: 100) { edges { node { status attempts messageId } } } }
  }
}
"""
# Webhooks may call loopback here; an attempt may take 1 s, so a claim lapses after 3 s (which
# the test of a killed server wants: it waits for the claim to lapse).
HOOK_ENV = {
    "TRAYLINX_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
    "TRAYLINX_WEBHOOK_TIMEOUT_SECONDS": "1",
    "TRAYLINX_WEBHOOK_POLL_SECONDS": "0.2",
    "TRAYLINX_USAGE_WRITER": "inline",
}


class Server:
    """`python -m app serve` in its own process, which a test may kill outright."""

    def __init__(
        self, database_url: str, var_dir: Path, extra_env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.var_dir = var_dir
        env = {
            **os.environ,
            **TEST_ENV,
            **HOOK_ENV,
            "DATABASE_URL": database_url,
            "TRAYLINX_VAR_DIR": str(var_dir),
            "TRAYLINX_LOG_LEVEL": "WARNING",
            **(extra_env or {}),
        }
        var_dir.mkdir(parents=True, exist_ok=True)
        with server_log(var_dir).open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app", "serve", "--port", str(self.port)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        self.client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=10)

    async def __aenter__(self) -> Server:
        await _wait_until_up(self.client, self.process, self.var_dir)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        await self.client.aclose()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=5)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


async def _project_with_webhook(gql: GraphQLClient, receiver: Receiver) -> tuple[Session, str, str]:
    owner = await sign_up(gql)
    project = await create_project(gql, owner)
    data = await gql.execute(
        ADD,
        {
            "input": {
                "projectId": project["id"],
                "url": receiver.url(),
                "events": ["API_KEY_CREATED"],
            }
        },
        owner.access_token,
    )
    return owner, project["id"], data["addWebhook"]["secret"]


async def _deliveries(gql: GraphQLClient, owner: Session, project_id: str) -> list[dict[str, str]]:
    data = await gql.execute(DELIVERIES, {"id": project_id}, owner.access_token)
    return [edge["node"] for edge in data["project"]["webhooks"][0]["deliveries"]["edges"]]


async def test_two_servers_sharing_the_outbox_send_each_message_once(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    # Claims of 12 s: forty deliveries' rounds on two servers sharing SQLite's write lock may
    # take more than 3 s, and a lapsed claim would be sent again, rightly, by the other server.
    lasting = {"TRAYLINX_WEBHOOK_TIMEOUT_SECONDS": "10"}
    async with (
        Server(database_url, tmp_path / "a", lasting) as first,
        Server(database_url, tmp_path / "b", lasting) as second,
    ):
        gql_a, gql_b = GraphQLClient(first.client), GraphQLClient(second.client)
        owner, project_id, secret = await _project_with_webhook(gql_a, receiver)
        # Keys made through both servers, at once: each server queues, and both send.
        await asyncio.gather(
            *(
                create_key(gql_a if n % 2 else gql_b, owner, project_id, note=f"k{n}")
                for n in range(40)
            )
        )
        received = await receiver.wait_for(40)
        await asyncio.sleep(1)  # time for a duplicate to show up, if there were one

    ids = Counter(delivered.message_id for delivered in received)
    assert len(receiver.received) == 40
    assert set(ids.values()) == {1}
    assert all(delivered.verify(secret)["type"] == "api_key.created" for delivered in received)


async def test_a_server_killed_mid_delivery_loses_nothing_and_sends_it_again(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    receiver.behaviour = Behaviour(delay_s=0.8)
    async with Server(database_url, tmp_path / "a") as doomed:
        gql = GraphQLClient(doomed.client)
        owner, project_id, secret = await _project_with_webhook(gql, receiver)
        await create_key(gql, owner, project_id)
        await receiver.wait_for(1)
        doomed.kill()  # while the endpoint is still answering

    receiver.behaviour = Behaviour()
    async with Server(database_url, tmp_path / "b") as restarted:
        gql = GraphQLClient(restarted.client)
        owner = await _logged_in(gql, owner)
        received = await receiver.wait_for(2)
        deliveries = await _once_settled(gql, owner, project_id)

    assert received[0].message_id == received[1].message_id
    assert received[1].verify(secret)["type"] == "api_key.created"
    # The attempt the killed server made counts.
    assert [(d["status"], d["attempts"]) for d in deliveries] == [("SUCCEEDED", 2)]


async def _once_settled(
    gql: GraphQLClient, owner: Session, project_id: str
) -> list[dict[str, str]]:
    """The deliveries once none is pending any more (the server records an attempt after the
    receiver has answered it), or as they are after 10 s."""
    deadline = time.monotonic() + 10
    while True:
        deliveries = await _deliveries(gql, owner, project_id)
        if time.monotonic() > deadline or all(d["status"] != "PENDING" for d in deliveries):
            return deliveries
        await asyncio.sleep(0.05)


async def _logged_in(gql: GraphQLClient, owner: Session) -> Session:
    return await log_in_again(gql, owner)
