"""The console's files at /admin/ and GraphiQL's local page, as a browser receives them.

The build directory here is made by the test (a few files shaped like Vite's output); the web
app itself is tested in a real browser in tests/browser/.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from app.console import CONTENT_SECURITY_POLICY
from app.settings import Settings
from tests.conftest import serving

INDEX = "<!doctype html><title>TrayLinx Keys</title><script type=module src=/admin/assets/app-3f2a.js></script>"  # noqa: E501


@pytest.fixture
def build(tmp_path: Path) -> Path:
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "graphiql").mkdir()
    (root / "index.html").write_text(INDEX)
    (root / "assets" / "app-3f2a.js").write_text("console.log('app')")
    (root / "favicon.svg").write_text("<svg/>")
    (root / "graphiql" / "init.js").write_text("// mounts GraphiQL")
    (tmp_path / "secret.txt").write_text("outside the build")
    return root


@pytest.fixture
async def browser(settings: Settings, build: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(replace(settings, console_dir=build)) as http:
        yield http


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/login",
        "/admin/projects",
        "/admin/projects/0b6e4c1e-2f3a-4c55-9f65-2f1f0e0b1a11/settings/api-keys",
        "/admin/projects/0b6e4c1e-2f3a-4c55-9f65-2f1f0e0b1a11/settings/llm-api-keys/",
    ],
)
async def test_every_console_route_loads_the_app(browser: httpx.AsyncClient, path: str) -> None:
    response = await browser.get(path)

    assert response.status_code == 200
    assert response.text == INDEX
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


async def test_the_console_answers_with_a_strict_policy(browser: httpx.AsyncClient) -> None:
    headers = (await browser.get("/admin/")).headers

    policy = headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "connect-src 'self';" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


async def test_hashed_assets_are_cached_for_good(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/admin/assets/app-3f2a.js")

    assert response.status_code == 200
    assert response.text == "console.log('app')"
    assert "javascript" in response.headers["content-type"]
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"


async def test_other_files_are_revalidated(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/admin/favicon.svg")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/admin/assets/gone-1234.js", "/admin/missing.css"])
async def test_a_missing_file_is_404_not_the_app(browser: httpx.AsyncClient, path: str) -> None:
    response = await browser.get(path)

    assert response.status_code == 404
    assert INDEX not in response.text


@pytest.mark.parametrize(
    "path",
    [
        "/admin/../secret.txt",
        "/admin/%2e%2e/secret.txt",
        "/admin/assets/%2e%2e/%2e%2e/secret.txt",
        "/admin/..%2fsecret.txt",
        "/graphiql/%2e%2e/%2e%2e/secret.txt",
    ],
)
async def test_nothing_outside_the_build_is_served(browser: httpx.AsyncClient, path: str) -> None:
    response = await browser.get(path)

    assert "outside the build" not in response.text


async def test_admin_without_a_slash_loads_the_app_too(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/admin")

    assert response.status_code == 200
    assert response.text == INDEX


async def test_an_unbuilt_console_says_how_to_build_it(settings: Settings, tmp_path: Path) -> None:
    async with serving(replace(settings, console_dir=tmp_path / "nothing")) as http:
        response = await http.get("/admin/projects")

    assert response.status_code == 503
    assert "make install" in response.text


async def test_graphiql_loads_only_this_services_assets(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/graphql", headers={"accept": "text/html"})

    assert response.status_code == 200
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    sources = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert sources, response.text
    # Only this service's assets (the icon is empty, inline: nothing to fetch).
    assert all(source.startswith("/graphiql/") or source == "data:," for source in sources)
    assert "<script>" not in response.text  # no inline script: the policy would block it
    assert (await browser.get("/graphiql/init.js")).text == "// mounts GraphiQL"


async def test_graphiql_assets_never_fall_back_to_the_app(browser: httpx.AsyncClient) -> None:
    assert (await browser.get("/graphiql/nothing-here")).status_code == 404


async def test_there_is_no_openapi_page(browser: httpx.AsyncClient) -> None:
    for path in ("/schema", "/schema/redoc", "/schema/openapi.json"):
        assert (await browser.get(path)).status_code == 404
