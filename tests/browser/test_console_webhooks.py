"""The console's Webhooks page, used as a person would: an endpoint added (its secret shown
once), a test delivery and a real event delivered to a receiver on loopback that checks the
Standard Webhooks signatures, the secret rotated (both secrets sign for a while), the events
changed, the endpoint disabled and deleted; a member's view; the page at 360 px.

Each page and state is saved under docs/screenshots/.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Api, ConsolePage
from tests.webhook_receiver import Delivered, Receiver

# Deliveries are sent by the served process within a second; the page asks again every 1.5 s.
DELIVERED_TIMEOUT_MS = 20_000
PATH = "/hooks/traylinx"

ADD_WEBHOOK = """
mutation($input: AddWebhookInput!) {
  addWebhook(input: $input) { secret webhook { id } userErrors { message } }
}
"""
WEBHOOK_IDS = """
query($id: ID!) { project(id: $id) { webhooks { id } } }
"""
SEND_TEST = """
mutation($input: WebhookIdInput!) { sendTestWebhook(input: $input) { userErrors { message } } }
"""


class ReceiverThread:
    """The receiver (asyncio, aiohttp) on an event loop of its own, beside the sync tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.receiver: Receiver | None = None

    def __enter__(self) -> Receiver:
        self.thread.start()

        async def start() -> Receiver:
            receiver = Receiver()
            await receiver.start()
            return receiver

        self.receiver = asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)
        return self.receiver

    def __exit__(self, *exc: object) -> None:
        if self.receiver is not None:
            asyncio.run_coroutine_threadsafe(self.receiver.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def receiver(server: str) -> Iterator[Receiver]:
    with ReceiverThread() as started:
        yield started


def received_of_type(receiver: Receiver, path: str, type_: str, count: int) -> list[Delivered]:
    """The deliveries of one type to one path, once `count` have arrived (10 s at most)."""
    deadline = 10.0
    step = 0.1
    while True:
        found = [
            delivered
            for delivered in list(receiver.received)
            if delivered.path == path and delivered.type == type_
        ]
        if len(found) >= count or deadline <= 0:
            assert len(found) >= count, f"{count} {type_} deliveries expected, got {len(found)}"
            return found
        threading.Event().wait(step)
        deadline -= step


def open_logged_in(console: ConsolePage, path: str, email: str) -> None:
    console.goto(path)
    expect(console.page).to_have_url(re.compile(r"/admin/login\?next="))
    console.log_in(email)
    expect(console.page).to_have_url(re.compile(re.escape(path) + "$"))


def webhooks_path(project_id: str) -> str:
    return f"/admin/projects/{project_id}/settings/webhooks"


def delivery_row(card: Any, event: str) -> Any:
    return card.get_by_role("row").filter(has_text=event)


def test_add_test_rotate_edit_and_delete_a_webhook(
    make_console: Any, api: Api, receiver: Receiver
) -> None:
    owner = api.sign_up("Ada Lovelace")
    project_id = api.create_project(owner["token"], "Alerts relay")
    console = make_console()
    page = console.page
    open_logged_in(console, webhooks_path(project_id), owner["email"])

    # The empty page explains webhooks and how to check their signatures.
    expect(page.get_by_role("heading", name="Webhooks", level=1)).to_be_visible()
    nav = page.get_by_role("navigation", name="Project")
    expect(nav.get_by_role("link", name="Webhooks")).to_have_attribute("aria-current", "page")
    expect(page.get_by_text("No webhooks yet")).to_be_visible()
    expect(page.locator(".empty")).to_contain_text("webhook-signature")
    console.audit("webhooks-empty")

    # Add: a URL that is not one is refused next to its field, as is no event at all.
    page.get_by_role("button", name="Add webhook").click()
    dialog = page.get_by_role("dialog", name="Add webhook")
    security = dialog.get_by_role("checkbox", name=re.compile("^Security alert raised"))
    expect(security).to_be_checked()
    dialog.get_by_label("Endpoint URL").fill("hooks.example.com/traylinx")
    security.uncheck()
    dialog.get_by_role("checkbox", name=re.compile("^API key leaked")).uncheck()
    dialog.get_by_role("button", name="Add webhook").click()
    expect(dialog.get_by_text("Enter a full URL, starting with https://.")).to_be_visible()
    expect(dialog.get_by_label("Endpoint URL")).to_have_attribute("aria-invalid", "true")
    expect(dialog.get_by_text("Choose at least one event.")).to_be_visible()
    console.audit("webhooks-add-error", full_page=False)

    url = receiver.url(PATH)
    dialog.get_by_label("Endpoint URL").fill(url)
    # Plain http is allowed, with a word about it.
    expect(dialog.get_by_text("prefer https://")).to_be_visible()
    dialog.get_by_role("checkbox", name=re.compile("^Security alert raised")).check()
    dialog.get_by_role("checkbox", name=re.compile("^API key created")).check()
    dialog.get_by_role("button", name="Add webhook").click()

    # The signing secret, once.
    dialog = page.get_by_role("dialog", name="Webhook added")
    secret = dialog.get_by_label("Signing secret").input_value()
    assert secret.startswith("whsec_"), secret
    expect(dialog).to_contain_text("it will not be shown again")
    console.audit("webhook-secret", full_page=False)
    dialog.get_by_role("button", name="I have copied it").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert secret not in page.content()

    card = page.get_by_role("article", name=url)
    expect(card).to_contain_text("Enabled")
    events = card.get_by_role("list", name=re.compile("^Events"))
    expect(events.get_by_role("listitem")).to_have_text(
        ["Security alert raised", "API key created"]
    )
    expect(card.get_by_text("No deliveries yet")).to_be_visible()

    # A test delivery: queued, then delivered, without reloading the page.
    card.get_by_role("button", name="Send test delivery").click()
    expect(card.get_by_role("status").filter(has_text="Test delivery queued")).to_be_visible()
    test_row = delivery_row(card, "Test delivery")
    expect(test_row).to_contain_text("Delivered", timeout=DELIVERED_TIMEOUT_MS)
    expect(test_row).to_contain_text("HTTP 200")
    [tested] = received_of_type(receiver, PATH, "webhook.test", 1)
    tested.verify(secret)

    # A real event it subscribed to: a key created through the API.
    api.create_api_key(api.log_in(owner["email"]), project_id, "Deploy bot")
    [created] = received_of_type(receiver, PATH, "api_key.created", 1)
    created.verify(secret)
    page.reload()
    card = page.get_by_role("article", name=url)
    expect(delivery_row(card, "API key created")).to_contain_text("Delivered")
    expect(card.get_by_role("status").filter(has_text="2 deliveries")).to_be_visible()
    console.audit("webhooks")

    # Rotate: the dialog explains the overlap; the new secret once; both sign for 24 hours.
    card.get_by_role("button", name="Rotate secret").click()
    dialog = page.get_by_role("dialog", name="Rotate the signing secret?")
    expect(dialog).to_contain_text("For the next 24 hours each delivery carries two signatures")
    dialog.get_by_role("button", name="Rotate secret").click()
    dialog = page.get_by_role("dialog", name="Signing secret rotated")
    new_secret = dialog.get_by_label("Signing secret").input_value()
    assert new_secret.startswith("whsec_")
    assert new_secret != secret
    expect(dialog).to_contain_text("The old secret signs too until")
    console.audit("webhook-rotated", full_page=False)
    dialog.get_by_role("button", name="I have copied it").click()
    expect(card).to_contain_text("New and old secret until")

    card.get_by_role("button", name="Send test delivery").click()
    expect(card.get_by_role("status").filter(has_text="3 deliveries")).to_be_visible(
        timeout=DELIVERED_TIMEOUT_MS
    )
    expect(delivery_row(card, "Test delivery").first).to_contain_text(
        "Delivered", timeout=DELIVERED_TIMEOUT_MS
    )
    second_test = received_of_type(receiver, PATH, "webhook.test", 2)[-1]
    second_test.verify(new_secret)
    assert second_test.signed_with(secret), "the old secret signs too during the overlap"

    # Edit: other events, and off; then on again.
    card.get_by_role("button", name="Edit").click()
    dialog = page.get_by_role("dialog", name="Edit webhook")
    expect(dialog.get_by_label("Endpoint URL")).to_have_value(url)
    dialog.get_by_role("checkbox", name=re.compile("^API key created")).uncheck()
    dialog.get_by_role("checkbox", name=re.compile("^Budget threshold reached")).check()
    dialog.get_by_role("checkbox", name="Enabled", exact=True).uncheck()
    dialog.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(events.get_by_role("listitem")).to_have_text(
        ["Security alert raised", "Budget threshold reached"]
    )
    expect(card).to_contain_text("Turned off: nothing is sent to it")
    console.audit("webhooks-disabled")
    card.get_by_role("button", name="Edit").click()
    dialog = page.get_by_role("dialog", name="Edit webhook")
    dialog.get_by_role("checkbox", name="Enabled", exact=True).check()
    dialog.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(card.locator(".badge").first).to_have_text("Enabled")

    # More deliveries than a page: "Load more" adds the next ones under the first ten.
    webhooks = api.execute(WEBHOOK_IDS, {"id": project_id}, api.log_in(owner["email"]))
    webhook_id = webhooks["project"]["webhooks"][0]["id"]
    token = api.log_in(owner["email"])
    for _ in range(9):
        api.execute(SEND_TEST, {"input": {"id": webhook_id}}, token)
    page.reload()
    card = page.get_by_role("article", name=url)
    expect(card.get_by_role("status").filter(has_text="10 of 12 deliveries shown")).to_be_visible()
    deliveries = card.get_by_role("table")
    expect(deliveries.locator("tbody tr")).to_have_count(10)
    card.get_by_role("button", name="Load more").click()
    expect(deliveries.locator("tbody tr")).to_have_count(12)
    expect(card.get_by_role("status").filter(has_text="12 deliveries")).to_be_visible()
    expect(card.get_by_role("button", name="Load more")).to_have_count(0)
    # The oldest, last: the first test delivery, to the first secret.
    expect(deliveries.locator("tbody tr").last).to_contain_text("Test delivery")

    # Delete, with a confirmation naming the URL; the empty page again.
    card.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete this webhook?")
    expect(dialog).to_contain_text(url)
    dialog.get_by_role("button", name="Delete webhook").click()
    expect(page.get_by_role("article")).to_have_count(0)
    expect(page.get_by_text("No webhooks yet")).to_be_visible()

    # The audit log says each change in words, by the endpoint's host.
    nav.get_by_role("link", name="Audit log").click()
    log = page.get_by_role("table", name="Audit log")
    expect(log).to_contain_text(
        "Ada Lovelace added a webhook to 127.0.0.1 for security alert raised and API key created"
    )
    expect(log).to_contain_text(
        "Ada Lovelace rotated the signing secret of the webhook to 127.0.0.1"
    )
    expect(log).to_contain_text(
        "Ada Lovelace changed the webhook to 127.0.0.1: the events and whether it is enabled"
    )
    expect(log).to_contain_text("Ada Lovelace deleted the webhook to 127.0.0.1")


def test_a_member_sees_why_and_the_page_at_360_px_by_keyboard(
    make_console: Any, api: Api, receiver: Receiver
) -> None:
    owner = api.sign_up("Ada Lovelace")
    member = api.sign_up("Grace Hopper")
    project_id = api.create_project(owner["token"], "Nightly jobs")
    api.add_member(owner["token"], project_id, member["email"], "MEMBER")
    url = receiver.url("/hooks/nightly-jobs-with-a-rather-long-path/and-a-token?token=abc123")
    added = api.execute(
        ADD_WEBHOOK,
        {"input": {"projectId": project_id, "url": url, "events": ["KEY_LEAKED"]}},
        owner["token"],
    )["addWebhook"]
    assert not added["userErrors"], added
    sent = api.execute(SEND_TEST, {"input": {"id": added["webhook"]["id"]}}, owner["token"])
    assert not sent["sendTestWebhook"]["userErrors"], sent

    # A member: no URL, no delivery, and why.
    viewer = make_console()
    open_logged_in(viewer, webhooks_path(project_id), member["email"])
    expect(viewer.page.get_by_role("heading", name="Webhooks", level=1)).to_be_visible()
    expect(
        viewer.page.get_by_text("Only this project\u2019s owners and admins can see and manage")
    ).to_be_visible()
    expect(viewer.page.get_by_role("button", name="Add webhook")).to_be_disabled()
    expect(viewer.page.get_by_role("article")).to_have_count(0)
    assert "nightly-jobs" not in viewer.page.content()
    viewer.audit("webhooks-member")

    # The owner at 360 px: nothing wider than the screen; the add dialog by keyboard alone.
    console = make_console(width=360, height=780)
    page = console.page
    open_logged_in(console, webhooks_path(project_id), owner["email"])
    card = page.get_by_role("article", name=url)
    expect(delivery_row(card, "Test delivery")).to_contain_text(
        "Delivered", timeout=DELIVERED_TIMEOUT_MS
    )
    console.audit("webhooks-360")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    add = page.get_by_role("button", name="Add webhook")
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement?.textContent === 'Add webhook'"):
            break
    expect(add).to_be_focused()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Add webhook")
    expect(dialog.get_by_label("Endpoint URL")).to_be_focused()
    page.keyboard.type("https://hooks.example.com/traylinx")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    security = dialog.get_by_role("checkbox", name=re.compile("^Security alert raised"))
    expect(security).not_to_be_checked()
    console.audit("webhooks-add-360", full_page=False)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)


def test_the_services_refusal_shows_in_the_add_dialog(
    make_console: Any, api: Api, receiver: Receiver
) -> None:
    owner = api.sign_up("Ada Lovelace")
    project_id = api.create_project(owner["token"], "Busy project")
    for number in range(20):
        added = api.execute(
            ADD_WEBHOOK,
            {
                "input": {
                    "projectId": project_id,
                    "url": receiver.url(f"/hooks/busy-{number}"),
                    "events": ["KEY_LEAKED"],
                }
            },
            owner["token"],
        )["addWebhook"]
        assert not added["userErrors"], added

    console = make_console()
    page = console.page
    open_logged_in(console, webhooks_path(project_id), owner["email"])
    expect(page.get_by_role("article")).to_have_count(20)
    page.get_by_role("button", name="Add webhook").click()
    dialog = page.get_by_role("dialog", name="Add webhook")
    dialog.get_by_label("Endpoint URL").fill(receiver.url("/hooks/one-more"))
    dialog.get_by_role("button", name="Add webhook").click()
    refusal = dialog.get_by_role("alert")
    expect(refusal).to_have_text("A project has at most 20 webhooks; delete one first.")
    expect(refusal).to_be_in_viewport()
    console.audit("webhooks-add-refused", full_page=False)
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("dialog")).to_have_count(0)


def disable_for_failures(database: Path, url: str) -> None:
    """The webhook as the sender leaves it after three days of failed deliveries (which a test
    cannot wait for)."""
    with sqlite3.connect(database, timeout=30) as connection:
        (created,) = connection.execute(
            "SELECT created_at FROM webhooks WHERE url = ?", (url,)
        ).fetchone()
        disabled = datetime.fromisoformat(created)
        since = disabled - timedelta(days=3)
        connection.execute(
            "UPDATE webhooks SET enabled = 0, failing_since = ?, disabled_at = ?, "
            "disabled_reason = ? WHERE url = ?",
            (
                since.isoformat(sep=" "),
                created,
                f"Every delivery failed for 3 days; disabled {disabled:%Y-%m-%d %H:%M} UTC.",
                url,
            ),
        )


def test_a_webhook_the_service_disabled_says_why_and_starts_again(
    make_console: Any, api: Api, receiver: Receiver, server_database: Path
) -> None:
    owner = api.sign_up("Ada Lovelace")
    project_id = api.create_project(owner["token"], "Quiet receiver")
    url = receiver.url("/hooks/gone-quiet")
    added = api.execute(
        ADD_WEBHOOK,
        {"input": {"projectId": project_id, "url": url, "events": ["KEY_LEAKED"]}},
        owner["token"],
    )["addWebhook"]
    assert not added["userErrors"], added
    disable_for_failures(server_database, url)

    console = make_console()
    page = console.page
    open_logged_in(console, webhooks_path(project_id), owner["email"])
    card = page.get_by_role("article", name=url)
    expect(card.locator(".badge").first).to_have_text("Disabled")
    expect(card).to_contain_text("Every delivery failed for 3 days; disabled")
    expect(card).to_contain_text("Fix the endpoint, send a test delivery, then enable it again.")
    console.audit("webhooks-disabled-failing")

    # A test delivery goes to a disabled endpoint too; then it is enabled again.
    card.get_by_role("button", name="Send test delivery").click()
    expect(delivery_row(card, "Test delivery")).to_contain_text(
        "Delivered", timeout=DELIVERED_TIMEOUT_MS
    )
    card.get_by_role("button", name="Edit").click()
    dialog = page.get_by_role("dialog", name="Edit webhook")
    dialog.get_by_role("checkbox", name="Enabled", exact=True).check()
    dialog.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(card.locator(".badge").first).to_have_text("Enabled")
    expect(card).not_to_contain_text("Every delivery failed")
