"""GraphQL baseline: what the GraphQL layer costs on top of the bare HTTP stack.

`GET /healthz` is the floor (routing and JSON, no GraphQL, no database). `{ __typename }` adds
parsing, validation and execution of the smallest query. `{ viewer { __typename } }` with a
user's access token adds bearer authentication. Each GraphQL row's throughput is shown relative
to /healthz at the same concurrency.
"""

from __future__ import annotations

import secrets
from dataclasses import replace

import httpx

from bench.harness import HarnessError, RunningService, progress, running_service
from bench.model import Measurement, RunOptions, Scenario, ScenarioResult
from bench.wrk import HttpCase, ensure_wrk, measure, preflight, server_remarks, wrk_description

CONCURRENCY_LEVELS = (1, 32)
BASELINE = HttpCase("GET /healthz", "GET", "/healthz", expect_json={"status": "ok"})
SIGN_UP = "mutation($i: SignUpInput!){ signUp(input:$i){ accessToken userErrors{ message } } }"


def run(options: RunOptions) -> ScenarioResult:
    wrk = ensure_wrk()
    with running_service(options.database) as service:
        token = sign_up(service)
        cases = [
            BASELINE,
            HttpCase.graphql("{ __typename }", expect_data={"__typename": "Query"}),
            HttpCase.graphql(
                "{ viewer { __typename } }",
                expect_data={"viewer": {"__typename": "User"}},
                token=token,
            ),
        ]
        for case in cases:
            preflight(case, service.base_url)
        measurements = [
            measure(
                wrk,
                case,
                service,
                connections=connections,
                duration_s=options.duration_s,
                warmup_s=options.warmup_s,
            )
            for connections in CONCURRENCY_LEVELS
            for case in cases
        ]
        warnings, notes = server_remarks(service, measurements)
    return ScenarioResult(
        measurements=with_ratios_to_baseline(measurements),
        ratio_label=f"vs {BASELINE.path}",
        facts={"load": wrk_description(wrk)},
        warnings=warnings,
        notes=notes,
    )


def sign_up(service: RunningService) -> str:
    """A new user's access token, obtained the way a client gets one."""
    variables = {
        "i": {
            "email": f"bench-{secrets.token_hex(6)}@example.com",
            "password": secrets.token_urlsafe(18),
            "name": "Bench User",
        }
    }
    progress("signing up a user for the authenticated query")
    # Password hashing is deliberately slow, hence the long timeout.
    response = httpx.post(
        service.url("/graphql"), json={"query": SIGN_UP, "variables": variables}, timeout=30.0
    )
    try:
        payload = response.json()
        token = payload["data"]["signUp"]["accessToken"]
    except (ValueError, KeyError, TypeError):
        token = None
    if response.status_code != 200 or not isinstance(token, str):
        raise HarnessError(f"signUp failed: {response.status_code} {response.text[:500]}")
    return token


def with_ratios_to_baseline(measurements: list[Measurement]) -> list[Measurement]:
    """Fill in each non-baseline row's throughput relative to the baseline at its concurrency."""
    baseline_rps = {
        m.connections: m.rps for m in measurements if m.label == BASELINE.label and m.rps > 0
    }
    return [
        m
        if m.label == BASELINE.label or m.connections not in baseline_rps
        else replace(m, ratio=round(m.rps / baseline_rps[m.connections], 3))
        for m in measurements
    ]


SCENARIO = Scenario(
    name="graphql",
    title="GraphQL baseline",
    summary="GET /healthz vs the smallest GraphQL queries, anonymous and authenticated",
    run=run,
)
