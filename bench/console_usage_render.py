"""How soon the console's Usage page draws its chart, for a project with a month of traffic.

    python -m bench.console_usage_render [--keys 100] [--days 30] [--runs 7]

Starts the service on a throwaway SQLite database, creates a project with `--keys` API keys
through the API, writes `--days` of hourly usage for every key (and the project's hourly sums)
straight into the usage tables, then opens the Usage page in headless Chromium (Debian's
/usr/bin/chromium, as the browser tests do) and reads, after each full load of the page, the
`usage-chart-drawn` performance mark the page sets when uPlot first draws: milliseconds from
the start of navigation to the chart on screen, session refresh, both queries and the charts'
code included. Prints the median, lowest and highest of `--runs` loads for each view.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery staple"
MARK = "usage-chart-drawn"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.console_usage_render")
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="usage-render-") as folder:
        var_dir = Path(folder)
        database = var_dir / "render.sqlite3"
        port = _free_port()
        server = _start_server(var_dir, database, port)
        try:
            base_url = f"http://127.0.0.1:{port}"
            email, project_id, key_ids = _project_with_keys(base_url, args.keys)
            rows = _seed_usage(database, project_id, key_ids, args.days)
            print(f"{args.keys} keys, {args.days} days: {rows:,} hourly rows written", flush=True)
            views = {
                f"{args.days} days by day, all keys": "range=30d",
                f"{args.days} days by hour, all keys": _custom_hours(args.days),
                f"{args.days} days by day, one key": f"range=30d&key={key_ids[0]}",
            }
            results = _measure(base_url, email, project_id, views, args.runs)
        finally:
            server.terminate()
            server.wait(timeout=15)
    print(f"\nfirst chart drawn, ms after navigation start ({args.runs} loads each):")
    for view, times in results.items():
        print(
            f"  {view:<34} median {statistics.median(times):6.0f}   "
            f"min {min(times):6.0f}   max {max(times):6.0f}"
        )
    return 0


def _custom_hours(days: int) -> str:
    today = datetime.now(UTC).date()
    first = today - timedelta(days=days - 1)
    return f"range=custom&from={first.isoformat()}&to={today.isoformat()}&by=HOUR"


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _start_server(var_dir: Path, database: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TRAYLINX_ENV": "development",
        "DATABASE_URL": f"sqlite:///{database}",
        "TRAYLINX_VAR_DIR": str(var_dir),
        "TRAYLINX_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.terminate()
    raise SystemExit("the server did not start in 30 s")


def _graphql(base_url: str, query: str, variables: dict[str, Any], token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = httpx.post(
        f"{base_url}/graphql", json={"query": query, "variables": variables}, headers=headers
    ).json()
    if body.get("errors"):
        raise SystemExit(f"GraphQL errors: {body['errors']}")
    return body["data"]


def _project_with_keys(base_url: str, keys: int) -> tuple[str, str, list[str]]:
    email = f"render-{uuid.uuid4().hex[:8]}@example.com"
    token = _graphql(
        base_url,
        "mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }",
        {"i": {"email": email, "password": PASSWORD, "name": "Ada Lovelace"}},
    )["signUp"]["accessToken"]
    project_id = _graphql(
        base_url,
        "mutation($i: CreateProjectInput!) { createProject(input: $i) { project { id } } }",
        {"i": {"name": "Busy project"}},
        token,
    )["createProject"]["project"]["id"]
    key_ids = []
    for index in range(keys):
        data = _graphql(
            base_url,
            "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { apiKey { id } } }",
            {"i": {"projectId": project_id, "note": f"Service {index + 1:03d}"}},
            token,
        )
        key_ids.append(data["createApiKey"]["apiKey"]["id"])
    return email, project_id, key_ids


def _seed_usage(database: Path, project_id: str, key_ids: list[str], days: int) -> int:
    """Every key's hours, and the project's sums, as the usage writer stores them on SQLite
    (UUIDs and UTC timestamps as text)."""
    rng = random.Random(7)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    hours = [now - timedelta(hours=h) for h in range(days * 24)]
    key_rows = []
    sums: dict[datetime, list[int]] = {hour: [0] * 6 for hour in hours}
    for key_id in key_ids:
        scale = rng.randint(1, 40)
        for hour in hours:
            requests = rng.randint(0, scale * 5)
            errors = rng.randint(0, max(requests // 20, 0))
            tokens_in = requests * rng.randint(50, 400)
            tokens_out = requests * rng.randint(20, 200)
            cost = tokens_in * 2 + tokens_out * 8
            key_rows.append(
                (
                    str(uuid.uuid4()),
                    project_id,
                    key_id,
                    str(hour),
                    requests,
                    errors,
                    tokens_in,
                    tokens_out,
                    cost,
                )
            )
            total = sums[hour]
            for i, value in enumerate((requests, errors, tokens_in, tokens_out, cost, 0)):
                total[i] += value
    with sqlite3.connect(database, timeout=30) as connection:
        connection.executemany(
            "INSERT INTO usage_hourly (id, project_id, api_key_id, hour_start, requests, "
            "client_errors, server_errors, upstream_errors, auth_failures, input_tokens, "
            "output_tokens, cost_micros, unpriced_tokens) "
            "VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0, ?, ?, ?, 0)",
            key_rows,
        )
        connection.executemany(
            "INSERT INTO usage_project_hourly (id, project_id, hour_start, requests, "
            "client_errors, server_errors, upstream_errors, auth_failures, input_tokens, "
            "output_tokens, cost_micros, unpriced_tokens) "
            "VALUES (?, ?, ?, ?, ?, 0, 0, 0, ?, ?, ?, ?)",
            [(str(uuid.uuid4()), project_id, str(hour), *total) for hour, total in sums.items()],
        )
    return len(key_rows) + len(sums)


def _measure(
    base_url: str, email: str, project_id: str, views: dict[str, str], runs: int
) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    results: dict[str, list[float]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        page = context.new_page()
        page.goto(f"{base_url}/admin/login")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("heading", name="Projects").wait_for()
        usage = f"{base_url}/admin/projects/{project_id}/usage"
        for view, query in views.items():
            times = []
            for _ in range(runs + 1):  # the first load warms the server's caches: not counted
                page.goto(f"{usage}?{query}")
                # (A polling loop: wait_for_function evaluates strings, which the CSP refuses.)
                drawn = f"() => performance.getEntriesByName({MARK!r}).length > 0"
                deadline = time.monotonic() + 30
                while not page.evaluate(drawn):
                    if time.monotonic() > deadline:
                        raise SystemExit(f"{view}: no chart drawn in 30 s")
                    page.wait_for_timeout(20)
                times.append(
                    page.evaluate(f"() => performance.getEntriesByName({MARK!r})[0].startTime")
                )
            results[view] = times[1:]
        browser.close()
    return results


if __name__ == "__main__":
    sys.exit(main())
