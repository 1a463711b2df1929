"""The admin console in a real browser: Debian's Chromium driven by Playwright, against the real
service (`python -m app serve` on loopback, SQLite in a temporary folder) with the fake LLM
provider on loopback too.

Without Chromium (or the playwright package) these tests skip with the reason, unless `CI` is
set: there they fail. They never run `playwright install` (it downloads browsers, which fails
here); they launch /usr/bin/chromium.

Every page a test opens is checked when the test ends: no request to any host but 127.0.0.1,
no console error, no uncaught page error (see `ConsolePage.assert_clean`).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_ENV
from tests.fake_provider import FakeProvider
from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
BUILT_CONSOLE = ROOT / "web" / "dist" / "index.html"
SCREENSHOTS = ROOT / "docs" / "screenshots"
PASSWORD = "correct horse battery staple"
# Short-lived access tokens, so the console's silent refresh runs while the tests do.
ACCESS_TOKEN_TTL_SECONDS = 30
REQUEST_SPIKE_FLOOR = 20


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI requires the browser tests", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def playwright_api() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (make install)")
    if not BUILT_CONSOLE.exists() or not AXE.exists():
        pytest.fail("the console is not built: run make install (npm ci, npm run build in web/)")
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_api: Any) -> Iterator[Any]:
    browser = playwright_api.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )
    try:
        yield browser
    finally:
        browser.close()


class ProviderThread:
    """The fake provider (asyncio, aiohttp) on an event loop of its own, beside the sync tests."""

    def __init__(self) -> None:
        self.provider = FakeProvider()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> FakeProvider:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.provider.start(), self.loop).result(10)
        return self.provider

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.provider.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="session")
def fake_provider_url(playwright_api: Any) -> Iterator[str]:
    with ProviderThread() as provider:
        yield provider.base_url


@pytest.fixture(scope="session")
def server_var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("console")


@pytest.fixture(scope="session")
def server_database(server_var_dir: Path) -> Path:
    """The service's SQLite file, for the few facts a test cannot make through the API (a key
    used days ago)."""
    return server_var_dir / "console.sqlite3"


@pytest.fixture(scope="session")
def server(fake_provider_url: str, server_var_dir: Path, server_database: Path) -> Iterator[str]:
    """The service as people run it, in its own process; yields its base URL."""
    var_dir = server_var_dir
    port = free_port()
    env = {
        **os.environ,
        **TEST_ENV,
        "TRAYLINX_ENV": "development",
        "DATABASE_URL": f"sqlite:///{server_database}",
        "TRAYLINX_VAR_DIR": str(var_dir),
        "TRAYLINX_LOG_LEVEL": "WARNING",
        "TRAYLINX_OPENAI_BASE_URL": f"{fake_provider_url}/v1",
        "TRAYLINX_ANTHROPIC_BASE_URL": fake_provider_url,
        "TRAYLINX_USAGE_FLUSH_SECONDS": "0.5",
        "TRAYLINX_LAST_USE_FLUSH_SECONDS": "1",
        "TRAYLINX_ACCESS_TOKEN_TTL_SECONDS": str(ACCESS_TOKEN_TTL_SECONDS),
        # A spike in tens of requests rather than hundreds (the alerts page's test makes one).
        "TRAYLINX_ALERT_REQUEST_SPIKE_FLOOR": str(REQUEST_SPIKE_FLOOR),
        # The webhooks page's test delivers to a receiver on loopback, which the service
        # refuses unless told otherwise; the sender runs in the served process and polls often.
        "TRAYLINX_WEBHOOKS_ENABLED": "true",
        "TRAYLINX_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
        "TRAYLINX_WEBHOOK_POLL_SECONDS": "0.2",
    }
    log = (var_dir / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                log.flush()
                output = (var_dir / "server.log").read_text(errors="replace")
                raise AssertionError(f"server exited early: {output[-2000:]}")
            try:
                if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("server did not start in 30 s")
            time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


class Api:
    """Setting up data through GraphQL, as a script would (not what the tests check)."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=15)

    def execute(self, query: str, variables: dict[str, Any], token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        body = response.json()
        assert response.status_code == 200, body
        assert not body.get("errors"), body
        return body["data"]

    def sign_up(self, name: str) -> dict[str, str]:
        email = f"{name.split()[0].lower()}-{secrets.token_hex(4)}@example.com"
        data = self.execute(
            """mutation($input: SignUpInput!) { signUp(input: $input) {
                 accessToken user { id } userErrors { message } } }""",
            {"input": {"email": email, "password": PASSWORD, "name": name}},
        )["signUp"]
        assert not data["userErrors"], data
        return {"email": email, "token": data["accessToken"], "id": data["user"]["id"]}

    def log_in(self, email: str) -> str:
        """A fresh access token (the service's live 30 seconds here)."""
        data = self.execute(
            """mutation($input: LogInInput!) { logIn(input: $input) {
                 accessToken userErrors { message } } }""",
            {"input": {"email": email, "password": PASSWORD}},
        )["logIn"]
        assert not data["userErrors"], data
        token: str = data["accessToken"]
        return token

    def create_project(self, token: str, name: str) -> str:
        data = self.execute(
            """mutation($input: CreateProjectInput!) { createProject(input: $input) {
                 project { id } userErrors { message } } }""",
            {"input": {"name": name}},
            token,
        )["createProject"]
        assert not data["userErrors"], data
        project_id: str = data["project"]["id"]
        return project_id

    def create_api_key(self, token: str, project_id: str, note: str) -> str:
        data = self.execute(
            """mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) {
                 secret userErrors { message } } }""",
            {"input": {"projectId": project_id, "note": note}},
            token,
        )["createApiKey"]
        assert not data["userErrors"], data
        secret: str = data["secret"]
        return secret

    def add_member(self, token: str, project_id: str, email: str, role: str) -> None:
        data = self.execute(
            """mutation($input: AddProjectMemberInput!) { addProjectMember(input: $input) {
                 userErrors { message } } }""",
            {"input": {"projectId": project_id, "email": email, "role": role}},
            token,
        )["addProjectMember"]
        assert not data["userErrors"], data

    def add_llm_key(self, token: str, project_id: str, provider: str, secret: str) -> None:
        data = self.execute(
            """mutation($input: AddLlmApiKeyInput!) { addLlmApiKey(input: $input) {
                 userErrors { message } } }""",
            {"input": {"projectId": project_id, "provider": provider, "secretKey": secret}},
            token,
        )["addLlmApiKey"]
        assert not data["userErrors"], data


@pytest.fixture(scope="session")
def api(server: str) -> Iterator[Api]:
    client = Api(server)
    try:
        yield client
    finally:
        client.http.close()


class ConsolePage:
    """One browser tab on the console, watched for what must never happen on any page."""

    def __init__(self, context: Any, base_url: str) -> None:
        self.context = context
        self.base_url = base_url
        self.page = context.new_page()
        self.requests: list[str] = []
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        # Messages a test expects (e.g. the 401 that ends a session), matched by substring.
        self.expected_console_errors: list[str] = []
        context.on("request", lambda request: self.requests.append(request.url))
        context.on("page", self._watch)
        self._watch(self.page)

    def _watch(self, page: Any) -> None:
        page.on(
            "console",
            lambda message: (
                message.type == "error"
                and self.console_errors.append(f"{page.url}: {message.text}")
            ),
        )
        page.on("pageerror", lambda error: self.page_errors.append(f"{page.url}: {error}"))

    def goto(self, path: str) -> None:
        self.page.goto(f"{self.base_url}{path}")

    def log_in(self, email: str, password: str = PASSWORD) -> None:
        """Through the login page, as a person would."""
        page = self.page
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()

    def audit(self, name: str, *, full_page: bool = True) -> None:
        """A screenshot for docs/screenshots, and axe-core's serious and critical findings."""
        self.page.wait_for_load_state("networkidle")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)
        violations = self.page.evaluate(
            """async () => {
                const result = await axe.run(document, { resultTypes: ["violations"] });
                return result.violations
                    .filter((v) => v.impact === "serious" || v.impact === "critical")
                    .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                                   nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")) }));
            }"""
        )
        assert violations == [], f"axe-core on {name}: {violations}"

    def assert_clean(self) -> None:
        foreign = [
            url
            for url in self.requests
            if not url.startswith(("data:", "blob:", "about:"))
            and httpx.URL(url).host != "127.0.0.1"
        ]
        assert foreign == [], f"requests left 127.0.0.1: {foreign}"
        unexpected = [
            text
            for text in self.console_errors
            if not any(expected in text for expected in self.expected_console_errors)
        ]
        assert unexpected == [], f"console errors: {unexpected}"
        assert self.page_errors == [], f"page errors: {self.page_errors}"


@pytest.fixture
def make_console(browser: Any, server: str) -> Iterator[Any]:
    """Open a fresh browser profile (no cookies, no storage) as a ConsolePage."""
    opened: list[ConsolePage] = []

    def open_console(*, width: int = 1280, height: int = 860) -> ConsolePage:
        context = browser.new_context(
            viewport={"width": width, "height": height},
            locale="en-GB",
            timezone_id="Europe/Berlin",
        )
        # axe-core rides along in every page as an init script: a script tag would (rightly) be
        # refused by the console's CSP.
        context.add_init_script(path=str(AXE))
        context.set_default_timeout(10_000)
        console = ConsolePage(context, server)
        opened.append(console)
        return console

    yield open_console
    try:
        for console in opened:
            console.assert_clean()
    finally:
        for console in opened:
            console.context.close()


@pytest.fixture
def console(make_console: Any) -> ConsolePage:
    page: ConsolePage = make_console()
    return page
