"""The console's monitoring and team pages, used as a person would: usage, security alerts, a
key's own page (its policy, a rotation with a grace period), members and the audit log.

One project with real traffic through the fake provider is shared by the journeys here: a key
used for days from one address, then from an address it never used and far more than usual,
which raises two alerts. Each page and state is saved under docs/screenshots/.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import REQUEST_SPIKE_FLOOR, Api, ConsolePage

T = TypeVar("T")

FAMILIAR_IP = "198.51.100.7"
NEW_IP = "203.0.113.9"
BUSY_NOTE = "Production backend"
QUIET_NOTE = "Nightly export"
# Through the fake provider (11 input and 7 output tokens each); the failed ones ask for a model
# the project does not have.
FAMILIAR_CALLS = 3
NEW_ADDRESS_CALLS = REQUEST_SPIKE_FLOOR + 4
FAILED_CALLS = 2

USAGE_TOTALS = """
query($id: ID!, $from: DateTime!, $to: DateTime!) {
  project(id: $id) {
    usage(from: $from, to: $to, granularity: HOUR) {
      totals { requests errors inputTokens outputTokens spendUsd }
    }
    securityAlerts { totalCount }
  }
}
"""


@dataclass
class Monitored:
    owner: dict[str, str]
    project_id: str
    key_id: str
    quiet_key_id: str


def wait_until(check: Callable[[], T | None], what: str, timeout: float = 20) -> T:
    """Polls a condition the service reaches within seconds (usage is written every 0.5 s)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def call_model(base_url: str, key: str, ip: str, model: str = "gpt-4.1") -> int:
    """A chat completion from `ip` (the service believes X-Forwarded-For from loopback)."""
    response = httpx.post(
        f"{base_url}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "Hi"}]},
        headers={"Authorization": f"Bearer {key}", "X-Forwarded-For": ip},
        timeout=15,
    )
    return response.status_code


def key_id_of(secret: str) -> str:
    return secret.split("_")[1]


def move_addresses_back(database: Path, key_id: str, days: int) -> int:
    """The key's recorded addresses as if seen `days` ago: a key in use for days has habits."""
    with sqlite3.connect(database, timeout=30) as connection:
        rows = connection.execute(
            "SELECT id, first_seen_at, last_seen_at FROM key_client_ips WHERE api_key_id = ?",
            (key_id,),
        ).fetchall()
        for row_id, first, last in rows:
            earlier = [
                (datetime.fromisoformat(value) - timedelta(days=days)).isoformat(sep=" ")
                for value in (first, last)
            ]
            connection.execute(
                "UPDATE key_client_ips SET first_seen_at = ?, last_seen_at = ? WHERE id = ?",
                (*earlier, row_id),
            )
    return len(rows)


@pytest.fixture(scope="module")
def monitored(api: Api, server: str, server_database: Path) -> Monitored:
    owner = api.sign_up("Ada Lovelace")
    project_id = api.create_project(owner["token"], "Support assistant")
    api.add_llm_key(owner["token"], project_id, "OPENAI", "sk-test-openai-0004")
    secret = api.create_api_key(owner["token"], project_id, BUSY_NOTE)
    quiet = api.create_api_key(owner["token"], project_id, QUIET_NOTE)
    key_id = key_id_of(secret)

    # A spike is counted per hour: keep the traffic inside one.
    left = 3600 - time.time() % 3600
    if left < 20:
        time.sleep(left + 1)
    for _ in range(FAMILIAR_CALLS):
        assert call_model(server, secret, FAMILIAR_IP) == 200
    wait_until(lambda: move_addresses_back(server_database, key_id, days=3), "the first address")
    for _ in range(NEW_ADDRESS_CALLS):
        assert call_model(server, secret, NEW_IP) == 200
    for _ in range(FAILED_CALLS):
        assert call_model(server, secret, NEW_IP, model="no-such-model") == 404

    def settled() -> bool:
        token = api.log_in(owner["email"])
        now = datetime.now().astimezone()
        data = api.execute(
            USAGE_TOTALS,
            {
                "id": project_id,
                "from": (now - timedelta(hours=2)).isoformat(),
                "to": (now + timedelta(hours=1)).isoformat(),
            },
            token,
        )["project"]
        total = FAMILIAR_CALLS + NEW_ADDRESS_CALLS + FAILED_CALLS
        return bool(
            data["usage"]["totals"]["requests"] == total
            and data["securityAlerts"]["totalCount"] == 2
        )

    wait_until(settled, "the traffic's usage and its two alerts")
    return Monitored(owner, project_id, key_id, key_id_of(quiet))


def project_path(monitored: Monitored, page: str) -> str:
    return f"/admin/projects/{monitored.project_id}/{page}"


def open_logged_in(console: ConsolePage, path: str, email: str) -> None:
    console.goto(path)
    expect(console.page).to_have_url(re.compile(r"/admin/login\?next="))
    console.log_in(email)
    expect(console.page).to_have_url(re.compile(re.escape(path) + "$"))


def numbers_table(page: Any) -> Any:
    """The charts' text alternative, opened."""
    page.get_by_text("Show the numbers as a table").click()
    return page.get_by_role("table", name=re.compile("^Usage by"))


def test_usage_then_alerts_then_a_key_and_its_policy(
    console: ConsolePage, api: Api, monitored: Monitored
) -> None:
    page = console.page
    open_logged_in(console, project_path(monitored, "usage"), monitored.owner["email"])

    # The chart of the last 24 hours, and its numbers as the API counts them.
    expect(page.get_by_role("heading", name="Usage", exact=True)).to_be_visible()
    chart = page.get_by_role("img", name=re.compile("^Requests and errors by hour"))
    expect(chart).to_be_visible()
    expect(chart.locator("canvas")).to_have_count(1)
    total = FAMILIAR_CALLS + NEW_ADDRESS_CALLS + FAILED_CALLS
    expect(chart).to_have_attribute(
        "aria-label", re.compile(f"{total} requests and {FAILED_CALLS} errors")
    )
    table = numbers_table(page)
    total_row = table.get_by_role("row", name=re.compile("^Total"))
    expect(total_row.locator('td[data-label="Requests"]')).to_have_text(str(total))
    expect(total_row.locator('td[data-label="Errors"]')).to_have_text(str(FAILED_CALLS))
    succeeded = FAMILIAR_CALLS + NEW_ADDRESS_CALLS
    expect(total_row.locator('td[data-label="Input tokens"]')).to_have_text(str(11 * succeeded))
    expect(total_row.locator('td[data-label="Output tokens"]')).to_have_text(str(7 * succeeded))
    # Every hour of the range is a row, empty ones as zeros (24, and the total).
    expect(table.get_by_role("row")).to_have_count(1 + 24 + 1)
    console.audit("usage")

    # One key that made no request: an empty range, said in words.
    page.get_by_label("API key").select_option(monitored.quiet_key_id)
    expect(page.get_by_text("No requests in the last 24 hours")).to_be_visible()
    console.audit("usage-empty")

    # A range the API refuses: its own words, next to the range picker.
    page.get_by_label("API key").select_option(label="All keys")
    custom = page.get_by_role("radio", name="Custom")
    custom.click()
    expect(custom).to_be_checked()
    page.get_by_label("From (UTC day)").fill("2026-01-01")
    page.get_by_label("To (UTC day, included)").fill("2026-03-31")
    page.get_by_label("Buckets", exact=True).select_option("HOUR")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("alert")).to_contain_text("HOUR covers at most 31 days")
    expect(page.get_by_label("Buckets", exact=True)).to_have_attribute("aria-invalid", "true")
    console.audit("usage-refused")

    # Two open alerts in the navigation; acknowledged one, then the other, the count drops.
    nav = page.get_by_role("navigation", name="Project")
    alerts_link = nav.get_by_role("link", name=re.compile("^Security alerts"))
    expect(alerts_link).to_have_accessible_name(re.compile(r"^Security alerts\s+2\s+open$"))
    alerts_link.click()
    expect(page.get_by_role("heading", name="Security alerts")).to_be_visible()
    unfamiliar = page.get_by_role("row").filter(has_text="Unfamiliar address")
    # The evidence counts the requests of the batch that first showed the address.
    expect(unfamiliar).to_contain_text(
        re.compile(
            rf"\d+ requests? from {re.escape(NEW_IP)}, an address this key had not used lately"
        )
    )
    spike = page.get_by_role("row").filter(has_text="Request spike")
    expect(spike).to_contain_text(f"the alert is raised above {REQUEST_SPIKE_FLOOR}")
    expect(spike.get_by_role("link", name=re.compile(BUSY_NOTE))).to_be_visible()
    console.audit("alerts")

    unfamiliar.get_by_role("checkbox").check()
    page.get_by_role("button", name="Acknowledge", exact=True).click()
    expect(alerts_link).to_have_accessible_name(re.compile(r"^Security alerts\s+1\s+open$"))
    expect(page.get_by_role("row").filter(has_text="Unfamiliar address")).to_have_count(0)
    page.get_by_role("checkbox", name="Select every open alert shown").check()
    page.get_by_role("button", name="Acknowledge", exact=True).click()
    expect(page.get_by_text("No open alerts")).to_be_visible()
    expect(alerts_link).to_have_accessible_name(re.compile(r"^Security alerts$"))
    page.get_by_role("button", name="Show acknowledged alerts").click()
    acknowledged = page.get_by_role("table", name="Acknowledged security alerts")
    expect(acknowledged.get_by_role("row")).to_have_count(3)
    console.audit("alerts-acknowledged")

    # The key's own page, from the keys list.
    nav.get_by_role("link", name="API keys", exact=True).click()
    page.get_by_role("link", name=re.compile(f"^{BUSY_NOTE}, key")).click()
    expect(page.get_by_role("heading", name=BUSY_NOTE, level=1)).to_be_visible()
    addresses = page.get_by_role("table", name="Addresses this key was used from")
    expect(addresses.get_by_role("row").filter(has_text=NEW_IP)).to_contain_text(
        str(NEW_ADDRESS_CALLS + FAILED_CALLS)
    )
    expect(addresses.get_by_role("row").filter(has_text=FAMILIAR_IP)).to_contain_text(
        str(FAMILIAR_CALLS)
    )
    expect(page.get_by_role("img", name=re.compile("^Requests and errors by hour"))).to_be_visible()
    expect(page.get_by_role("table", name="Changes to this key")).to_contain_text(
        f"Ada Lovelace created API key “{BUSY_NOTE}”"
    )
    console.audit("api-key-detail")

    # Its policy: the service's errors next to their fields, then saved.
    page.get_by_role("button", name="Edit policy").click()
    form = page.get_by_role("form", name="Edit policy")
    form.get_by_label("Allowed client addresses").fill("203.0.113.0/24, not-an-address")
    form.get_by_label("Requests per minute").fill("0")
    form.get_by_role("button", name="Save policy").click()
    expect(form.locator(".chip__error")).to_contain_text("`not-an-address` is not an IPv4")
    expect(form.get_by_text("Correct or remove the marked entry.")).to_be_visible()
    expect(form.get_by_label("Requests per minute")).to_have_attribute("aria-invalid", "true")
    console.audit("api-key-policy-error")
    form.get_by_role("button", name="Remove not-an-address").click()
    form.get_by_label("Requests per minute").fill("60")
    form.get_by_label("Tokens (input + output)").fill("1,000,000")
    form.get_by_role("button", name="Save policy").click()
    expect(page.get_by_role("form", name="Edit policy")).to_have_count(0)
    policy = page.get_by_role("region", name="Policy")
    expect(policy).to_contain_text("203.0.113.0/24")
    expect(policy).to_contain_text("1,000,000 a month (UTC)")
    expect(policy).to_contain_text(f"{11 * succeeded + 7 * succeeded} of 1,000,000 tokens")

    # Rotate with a grace period: the new secret once, and when the old key stops.
    page.get_by_role("button", name="Rotate").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Old key keeps working for").select_option(label="1 hour")
    dialog.get_by_role("button", name="Rotate key").click()
    secret = dialog.get_by_label("New API key").input_value()
    assert re.fullmatch(r"tlx_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}", secret), secret
    expect(dialog).to_contain_text("keeps working until")
    console.audit("api-key-rotated-grace", full_page=False)
    dialog.get_by_role("button", name="I have copied it").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert secret not in page.content()
    expect(page.get_by_text("This key was rotated")).to_be_visible()
    page.get_by_role("link", name="its replacement").click()
    expect(page.get_by_role("region", name="Policy")).to_contain_text("203.0.113.0/24")
    expect(page.get_by_role("table", name="Changes to this key")).to_contain_text("1 hour of grace")

    # The project's budget, on the API keys page: every key's requests count against it.
    nav.get_by_role("link", name="API keys", exact=True).click()
    budget = page.get_by_role("region", name="Project budget")
    budget.get_by_role("button", name="Edit budget").click()
    budget.get_by_label("USD, at the models").fill("50")
    budget.get_by_label("Per").last.select_option("DAY")
    budget.get_by_role("button", name="Save budget").click()
    expect(budget).to_contain_text("Spend, today (UTC day)")
    expect(budget).to_contain_text("of $50.00")
    console.audit("api-keys-budget")


def test_members_roles_and_the_audit_log(make_console: Any, api: Api, monitored: Monitored) -> None:
    grace = api.sign_up("Grace Hopper")
    owner = make_console()
    page = owner.page
    open_logged_in(owner, project_path(monitored, "settings/members"), monitored.owner["email"])
    expect(page.get_by_role("heading", name="Members")).to_be_visible()

    # Add: an email without an account is refused next to its field, then the right one.
    page.get_by_role("button", name="Add member").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Email").fill("nobody@example.com")
    dialog.get_by_role("button", name="Add member").click()
    expect(dialog.get_by_text("No account uses this email")).to_be_visible()
    expect(dialog.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    owner.audit("members-add-error", full_page=False)
    dialog.get_by_label("Email").fill(grace["email"])
    dialog.get_by_role("radio", name=re.compile("^Member")).check()
    dialog.get_by_role("button", name="Add member").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    grace_row = page.get_by_role("row").filter(has_text="Grace Hopper")
    expect(grace_row).to_contain_text("Member")

    # The member sees the list, and no action, and no audit log.
    member = make_console()
    open_logged_in(member, project_path(monitored, "settings/members"), grace["email"])
    expect(member.page.get_by_text("Only its owners can add or remove members")).to_be_visible()
    expect(member.page.get_by_role("button", name="Add member")).to_be_disabled()
    for action in ("Change role", "Remove"):
        expect(
            member.page.get_by_role("row")
            .filter(has_text="Grace Hopper")
            .get_by_role("button", name=action)
        ).to_be_disabled()
    member.audit("members-member")
    member.page.get_by_role("link", name="Audit log").click()
    expect(member.page.get_by_text("owners and admins can read its audit log")).to_be_visible()
    member.audit("audit-log-member")

    # The owner makes her an admin; the last owner cannot step down.
    grace_row.get_by_role("button", name="Change role").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("radio", name=re.compile("^Admin")).check()
    dialog.get_by_role("button", name="Change role").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(grace_row).to_contain_text("Admin")
    page.get_by_role("row").filter(has_text="Ada Lovelace").get_by_role(
        "button", name="Change role"
    ).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("radio", name=re.compile("^Member")).check()
    dialog.get_by_role("button", name="Change role").click()
    expect(dialog.get_by_text("A project needs at least one owner")).to_be_visible()
    owner.audit("members-last-owner", full_page=False)
    dialog.get_by_role("button", name="Cancel").click()
    owner.audit("members")

    # The audit log tells each change in words, and filters by action and by person.
    page.get_by_role("navigation", name="Project").get_by_role("link", name="Audit log").click()
    log = page.get_by_role("table", name="Audit log")
    expect(log).to_contain_text("Ada Lovelace added Grace Hopper as a member")
    expect(log).to_contain_text(
        "Ada Lovelace changed Grace Hopper\u2019s role from Member to Admin"
    )
    expect(log).to_contain_text("Ada Lovelace rotated API key")
    expect(log).to_contain_text("Ada Lovelace changed the policy of API key")
    owner.audit("audit-log")
    page.get_by_label("Action").select_option(label="Member added")
    expect(page).to_have_url(re.compile(r"action=project\.member_add"))
    expect(log.get_by_role("row")).to_have_count(2)
    page.get_by_label("Action").select_option(label="Every action")
    page.get_by_label("Who").select_option(grace["id"])
    expect(page.get_by_text("No event matches these filters.")).to_be_visible()
    page.get_by_label("Who").select_option(monitored.owner["id"])
    expect(log.get_by_role("row").first).to_be_visible()

    # Remove, with a confirmation naming her; the log says so.
    page.get_by_role("navigation", name="Project").get_by_role("link", name="Members").click()
    page.get_by_role("row").filter(has_text="Grace Hopper").get_by_role(
        "button", name="Remove"
    ).click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading")).to_have_text(
        "Remove Grace Hopper from Support assistant?"
    )
    dialog.get_by_role("button", name="Remove").click()
    expect(page.get_by_role("row").filter(has_text="Grace Hopper")).to_have_count(0)
    page.get_by_role("navigation", name="Project").get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("table", name="Audit log")).to_contain_text(
        "Ada Lovelace removed Grace Hopper (Admin)"
    )


def test_the_new_pages_at_360_px_and_by_keyboard(make_console: Any, monitored: Monitored) -> None:
    console = make_console(width=360, height=780)
    page = console.page
    open_logged_in(console, project_path(monitored, "usage"), monitored.owner["email"])

    # By keyboard alone: to the range picker, then the arrow keys choose another range.
    seven_days = page.get_by_role("radio", name="7 days")
    for _ in range(25):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement?.type === 'radio'"):
            break
    page.keyboard.press("ArrowRight")
    expect(seven_days).to_be_checked()
    expect(page.get_by_role("img", name=re.compile("^Requests and errors by day"))).to_be_visible()
    console.audit("usage-360")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    pages = [
        ("alerts", "Security alerts", "alerts-360"),
        ("audit", "Audit log", "audit-log-360"),
        ("settings/members", "Members", "members-360"),
        (f"settings/api-keys/{monitored.quiet_key_id}", QUIET_NOTE, "api-key-detail-360"),
    ]
    for path, heading, name in pages:
        console.goto(project_path(monitored, path))
        expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
        console.audit(name)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, name
