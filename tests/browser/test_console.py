"""The admin console, used as a person would: pages found by their headings, fields by their
labels, buttons by their names. Each page and state is saved under docs/screenshots/."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import quote

import httpx
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, Api, ConsolePage

CHAT = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "Hi"}]}


def keys_path(project_id: str) -> str:
    return f"/admin/projects/{project_id}/settings/api-keys"


def llm_keys_path(project_id: str) -> str:
    return f"/admin/projects/{project_id}/settings/llm-api-keys"


def chat(base_url: str, key: str) -> httpx.Response:
    return httpx.post(
        f"{base_url}/v1/chat/completions",
        json=CHAT,
        headers={"Authorization": f"Bearer {key}"},
        timeout=15,
    )


def owner_with_project(api: Api, name: str = "Ada") -> tuple[dict[str, str], str]:
    owner = api.sign_up(name)
    return owner, api.create_project(owner["token"], "Support assistant")


def open_logged_in(console: ConsolePage, path: str, email: str) -> None:
    """A deep link without a session goes to the login page, and back to it after logging in."""
    console.goto(path)
    expect(console.page).to_have_url(re.compile(r"/admin/login\?next="))
    console.log_in(email)
    expect(console.page).to_have_url(re.compile(re.escape(path) + "$"))


def key_row(page: Any, note: str) -> Any:
    return page.get_by_role("row").filter(has=page.get_by_text(note, exact=True))


def test_sign_up_then_create_a_project(console: ConsolePage) -> None:
    page = console.page
    console.goto("/admin/signup")
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
    console.audit("signup")

    # Everything wrong at once: the service names each field, and each message sits under it.
    page.get_by_label("Name").fill("Ada Lovelace")
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_text("Enter a valid email address", exact=False)).to_be_visible()
    expect(page.get_by_text("Use at least", exact=False)).to_be_visible()
    expect(page.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    console.audit("signup-errors")

    page.get_by_label("Email").fill(f"ada-{time.monotonic_ns()}@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/admin/projects$"))
    expect(page.get_by_role("heading", name="Projects")).to_be_visible()
    expect(page.get_by_text("No projects yet")).to_be_visible()
    console.audit("projects-empty")

    page.get_by_label("Project name").fill("Support assistant")
    page.get_by_role("button", name="Create project").click()
    expect(page).to_have_url(re.compile(r"/admin/projects/[^/]+/settings/api-keys$"))
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    expect(page.get_by_text("No API keys yet")).to_be_visible()
    console.audit("api-keys-empty")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Projects").click()
    row = page.get_by_role("row").filter(has_text="Support assistant")
    expect(row).to_contain_text("Owner")
    console.audit("projects")


def test_api_key_lifecycle(console: ConsolePage, api: Api) -> None:
    owner, project_id = owner_with_project(api)
    api.add_llm_key(owner["token"], project_id, "OPENAI", "sk-test-openai-0001")
    page = console.page
    console.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_logged_in(console, keys_path(project_id), owner["email"])

    # Create: a past expiry is refused by the service, next to the field.
    page.get_by_role("button", name="Create API key").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Note").fill("Production backend")
    dialog.get_by_label("Expires at").fill("2020-01-31T09:00")
    dialog.get_by_role("button", name="Create API key").click()
    expect(dialog.get_by_label("Expires at")).to_have_attribute("aria-invalid", "true")
    console.audit("api-key-create-error")

    # A date in the person's time zone (Berlin, UTC+1 in January) goes out as UTC.
    dialog.get_by_label("Expires at").fill("2030-01-31T09:00")
    dialog.get_by_role("button", name="Create API key").click()
    secret_field = dialog.get_by_label("New API key")
    expect(secret_field).to_be_visible()
    secret = secret_field.input_value()
    assert re.fullmatch(r"tlx_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}", secret), secret
    expect(dialog).to_contain_text("will not be shown again")
    dialog.get_by_role("button", name="Copy").click()
    expect(dialog.get_by_text("Copied to the clipboard.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    console.audit("api-key-created")
    dialog.get_by_role("button", name="I have copied it").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    # Shown once: gone from the page as soon as the dialog closes.
    assert secret not in page.content()

    row = key_row(page, "Production backend")
    expect(row).to_contain_text("31 Jan 2030, 09:00")
    expect(row).to_contain_text("Active")

    # The key works through the proxy, and the table counts the request after the usage flush.
    assert chat(console.base_url, secret).status_code == 200
    # (The count and the last use are written by separate flushes: wait for both.)
    requests_cell = row.locator('td[data-label="Requests (24 h)"]')
    last_used_cell = row.locator('td[data-label="Last used"]')
    deadline = time.monotonic() + 10
    while (
        requests_cell.inner_text() != "1" or last_used_cell.inner_text() == "Never"
    ) and time.monotonic() < deadline:
        time.sleep(0.5)
        page.reload()
    expect(requests_cell).to_have_text("1")
    expect(last_used_cell).not_to_have_text("Never")
    console.audit("api-keys")

    # Search by note, then by a key id that does not exist.
    search = page.get_by_role("searchbox", name="Search by note or key id")
    search.fill("production")
    expect(page).to_have_url(re.compile(r"search=production"))
    expect(row).to_be_visible()
    search.fill("zzzzzzzzzzzz")
    expect(page.get_by_text("No key matches")).to_be_visible()
    console.audit("api-keys-no-match")
    search.fill("")
    expect(row).to_be_visible()

    # Edit the note in place.
    row.get_by_role("button", name="Edit note").click()
    table = page.get_by_role("table")
    table.get_by_label("Note").fill("Production backend (EU)")
    table.get_by_role("button", name="Save").click()
    row = key_row(page, "Production backend (EU)")
    expect(row).to_be_visible()

    # Rotate: a new key with the same note and policy, the old one working for a grace period;
    # then end it early by deleting the old key.
    row.get_by_role("button", name="Rotate").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading")).to_have_text("Rotate “Production backend (EU)”")
    dialog.get_by_role("button", name="Rotate key").click()
    new_secret = dialog.get_by_label("New API key").input_value()
    assert new_secret != secret
    expect(dialog).to_contain_text("keeps working until")
    console.audit("api-key-rotated")
    dialog.get_by_role("button", name="Delete the old key now…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading")).to_have_text(
        "Delete the API key “Production backend (EU)”?"
    )
    expect(dialog).to_contain_text(secret[:8])
    console.audit("api-key-delete")
    dialog.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("row")).to_have_count(2)  # the header and the new key

    # The deleted key is refused at once; the new one works.
    refused = chat(console.base_url, secret)
    assert refused.status_code == 401, refused.text
    assert chat(console.base_url, new_secret).status_code == 200


def test_llm_api_keys(console: ConsolePage, api: Api) -> None:
    owner, project_id = owner_with_project(api)
    key = api.create_api_key(owner["token"], project_id, "Backend")
    page = console.page
    open_logged_in(console, llm_keys_path(project_id), owner["email"])
    expect(page.get_by_role("heading", name="LLM API keys")).to_be_visible()
    expect(page.get_by_text("No provider keys yet")).to_be_visible()
    console.audit("llm-keys-empty")

    # Neither default nor custom models: the service refuses, next to the switch.
    page.get_by_role("button", name="Add LLM API key").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Provider").select_option(label="OpenAI")
    dialog.get_by_label("Secret key").fill("sk-test-openai-abcd")
    expect(dialog.get_by_label("Secret key")).to_have_attribute("type", "password")
    dialog.get_by_label("Include default models").uncheck()
    dialog.get_by_role("button", name="Add LLM API key").click()
    expect(dialog.get_by_text("would route no model")).to_be_visible()
    console.audit("llm-key-add-error")

    dialog.get_by_label("Custom models").fill("ft:gpt-4.1:acme::abc")
    dialog.get_by_label("Custom models").press("Enter")
    expect(dialog.get_by_role("button", name="Remove ft:gpt-4.1:acme::abc")).to_be_visible()
    dialog.get_by_label("Include default models").check()
    console.audit("llm-key-add")
    dialog.get_by_role("button", name="Add LLM API key").click()
    expect(page.get_by_role("dialog")).to_have_count(0)

    card = page.get_by_role("article", name="OpenAI")
    expect(card).to_contain_text("…abcd")
    expect(card).to_contain_text("ft:gpt-4.1:acme::abc")
    card.get_by_text(re.compile(r"Routes \d+ models")).click()
    expect(card.get_by_text("gpt-4.1", exact=True)).to_be_visible()
    console.audit("llm-keys")
    assert chat(console.base_url, key).status_code == 200

    # Replace the secret in place.
    card.get_by_role("button", name="Replace secret").click()
    card.get_by_label("Secret key").fill("sk-test-openai-wxyz")
    card.get_by_role("button", name="Save").click()
    expect(card).to_contain_text("…wxyz")
    expect(card).not_to_contain_text("…abcd")

    # Edit models: drop the custom one.
    card.get_by_role("button", name="Edit models").click()
    card.get_by_role("button", name="Remove ft:gpt-4.1:acme::abc").click()
    card.get_by_role("button", name="Save").click()
    expect(card.get_by_role("button", name="Replace secret")).to_be_visible()
    expect(card).not_to_contain_text("ft:gpt-4.1:acme::abc")

    # Delete: the confirmation says requests to the provider stop; then they do.
    card.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Requests to OpenAI through this project stop")
    console.audit("llm-key-delete")
    dialog.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("No provider keys yet")).to_be_visible()
    stopped = chat(console.base_url, key)
    assert stopped.status_code == 404, stopped.text


def test_member_sees_everything_read_only(console: ConsolePage, api: Api) -> None:
    owner, project_id = owner_with_project(api)
    api.create_api_key(owner["token"], project_id, "Production backend")
    api.add_llm_key(owner["token"], project_id, "ANTHROPIC", "sk-ant-test-0002")
    member = api.sign_up("Grace")
    api.add_member(owner["token"], project_id, member["email"], "MEMBER")
    page = console.page

    open_logged_in(console, keys_path(project_id), member["email"])
    row = key_row(page, "Production backend")
    expect(row).to_be_visible()
    expect(page.get_by_text("Only its owners and admins can create")).to_be_visible()
    expect(page.get_by_role("button", name="Create API key")).to_be_disabled()
    for action in ("Edit note", "Rotate", "Delete"):
        expect(row.get_by_role("button", name=action)).to_be_disabled()
    console.audit("api-keys-member")

    page.get_by_role("link", name="LLM API keys").click()
    card = page.get_by_role("article", name="Anthropic")
    expect(card).to_contain_text("…0002")
    expect(page.get_by_role("button", name="Add LLM API key")).to_be_disabled()
    for action in ("Replace secret", "Edit models", "Delete"):
        expect(card.get_by_role("button", name=action)).to_be_disabled()
    console.audit("llm-keys-member")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Projects").click()
    expect(page.get_by_role("row").filter(has_text="Support assistant")).to_contain_text("Member")


def test_deep_link_reload_and_an_ended_session(console: ConsolePage, api: Api) -> None:
    owner, project_id = owner_with_project(api)
    api.create_api_key(owner["token"], project_id, "Production backend")
    page = console.page
    open_logged_in(console, keys_path(project_id), owner["email"])

    # A reload keeps the page: the refresh cookie brings a new access token.
    page.reload()
    expect(key_row(page, "Production backend")).to_be_visible()
    first_render_ms = page.evaluate("performance.now()")
    print(f"\nkeys page: first render with data {first_render_ms:.0f} ms after navigation start")

    # The session ends elsewhere (e.g. logged out in another browser window).
    ended = console.context.request.post(
        f"{console.base_url}/auth/logout", headers={"X-Requested-With": "traylinx-console"}
    )
    assert ended.status == 204
    # The console's next request is refused (401), and so is its refresh: both are expected.
    console.expected_console_errors.append("status of 401")

    page.get_by_role("link", name="LLM API keys").click()
    intended = llm_keys_path(project_id)
    expect(page).to_have_url(
        re.compile(re.escape(f"/admin/login?next={quote(intended, safe='')}") + "$")
    )
    expect(page.get_by_text("Your session has ended")).to_be_visible()
    console.audit("login-session-ended")

    console.log_in(owner["email"])
    expect(page).to_have_url(re.compile(re.escape(intended) + "$"))
    expect(page.get_by_role("heading", name="LLM API keys")).to_be_visible()


def test_graphiql_runs_an_authenticated_query_offline(console: ConsolePage, api: Api) -> None:
    owner = api.sign_up("Linus")
    page = console.page
    query = "query Me { viewer { __typename ... on User { email } } }"
    console.goto(f"/graphql?q={quote(query)}")
    expect(page.locator(".graphiql-container")).to_be_visible()

    page.get_by_role("button", name="Headers").click()
    headers_editor = page.locator(".graphiql-editor-tool .CodeMirror").last
    headers_editor.click()
    page.keyboard.type(f'{{"Authorization": "Bearer {owner["token"]}"}}')
    page.get_by_role("button", name=re.compile("Execute query")).click()
    expect(page.locator(".result-window")).to_contain_text(owner["email"])
    console.audit("graphiql", full_page=False)


def test_narrow_screens(make_console: Any, api: Api) -> None:
    owner, project_id = owner_with_project(api)
    api.create_api_key(owner["token"], project_id, "Production backend")
    api.create_api_key(owner["token"], project_id, "Staging")
    api.add_llm_key(owner["token"], project_id, "OPENAI", "sk-test-openai-0003")
    console = make_console(width=360, height=780)
    page = console.page

    console.goto("/admin/login")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    console.audit("login-360")
    open_logged_in(console, keys_path(project_id), owner["email"])
    expect(key_row(page, "Staging")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    console.audit("api-keys-360")

    page.get_by_role("button", name="Create API key").click()
    page.get_by_role("dialog").get_by_label("Note").fill("Mobile app")
    page.get_by_role("dialog").get_by_role("button", name="Create API key").click()
    expect(page.get_by_role("dialog").get_by_label("New API key")).to_be_visible()
    console.audit("api-key-created-360", full_page=False)
    page.get_by_role("dialog").get_by_role("button", name="I have copied it").click()

    page.get_by_role("link", name="LLM API keys").click()
    expect(page.get_by_role("article", name="OpenAI")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    console.audit("llm-keys-360")


def test_keyboard_only(console: ConsolePage, api: Api) -> None:
    owner, project_id = owner_with_project(api)
    page = console.page
    console.goto(keys_path(project_id))
    expect(page.get_by_label("Email")).to_be_visible()

    # Log in with the keyboard alone.
    page.get_by_label("Email").focus()
    page.keyboard.type(owner["email"])
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()

    # Reach "Create API key" by tabbing; focus is visible; the dialog takes focus and Escape
    # closes it.
    create = page.get_by_role("button", name="Create API key")
    for _ in range(15):
        page.keyboard.press("Tab")
        if create.evaluate("button => button === document.activeElement"):
            break
    outline = create.evaluate("button => getComputedStyle(button).outlineStyle")
    assert outline == "solid", outline
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Note")).to_be_focused()
    page.keyboard.type("From the keyboard")
    page.keyboard.press("Enter")
    expect(dialog.get_by_label("New API key")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(key_row(page, "From the keyboard")).to_be_visible()


def test_an_unexpected_failure_shows_its_request_id(console: ConsolePage, api: Api) -> None:
    owner, project_id = owner_with_project(api)
    api.create_api_key(owner["token"], project_id, "Production backend")
    page = console.page
    open_logged_in(console, f"/admin/projects/{project_id}/settings/llm-api-keys", owner["email"])

    # The keys query fails on the server's side once; the page says so and quotes the request id.
    def fail_keys_query(route: Any) -> None:
        if (route.request.post_data_json or {}).get("operationName") != "ApiKeys":
            route.fallback()
            return
        route.fulfill(
            status=500,
            headers={"content-type": "application/json", "x-request-id": "req-e2e-0001"},
            body='{"errors": [{"message": "Unexpected error.",'
            ' "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}',
        )

    page.route("**/graphql", fail_keys_query)
    console.expected_console_errors.append("status of 500")
    page.get_by_role("link", name="API keys", exact=True).click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("HTTP 500")
    expect(alert).to_contain_text("req-e2e-0001")
    console.audit("api-keys-failure")

    page.unroute("**/graphql")
    alert.get_by_role("button", name="Try again").click()
    expect(key_row(page, "Production backend")).to_be_visible()


def test_tabs_share_the_session_and_refresh_it_silently(console: ConsolePage, api: Api) -> None:
    owner, project_id = owner_with_project(api)
    api.create_api_key(owner["token"], project_id, "Production backend")
    first = console.page
    open_logged_in(console, keys_path(project_id), owner["email"])
    refreshes: list[float] = []
    console.context.on(
        "request",
        lambda request: (
            request.url.endswith("/auth/refresh") and refreshes.append(time.monotonic())
        ),
    )

    # Two more tabs open the console at the same moment: both pick the session up from the
    # cookie. Refresh tokens work once, so unless the tabs take turns (Web Locks) the second
    # would present a used token and end the session for all of them.
    tabs = [console.context.new_page() for _ in range(2)]
    for tab in tabs:
        tab.evaluate(f"location.href = {console.base_url + llm_keys_path(project_id)!r}")
    for tab in tabs:
        expect(tab.get_by_role("heading", name="LLM API keys")).to_be_visible()
    assert len(refreshes) >= 2

    # Access tokens live 30 s here: the first tab refreshes on its own before its token expires,
    # and keeps working without a 401.
    opened = time.monotonic()
    deadline = opened + 30
    while time.monotonic() < deadline and not any(t > opened + 1 for t in refreshes):
        first.wait_for_timeout(500)
    assert any(t > opened + 1 for t in refreshes), "no silent refresh within 30 s"
    first.wait_for_timeout(9_000)  # past the first access token's expiry
    first.get_by_role("link", name="LLM API keys").click()
    expect(first.get_by_role("heading", name="LLM API keys")).to_be_visible()
    for tab in [first, *tabs]:
        expect(tab).not_to_have_url(re.compile("/admin/login"))
