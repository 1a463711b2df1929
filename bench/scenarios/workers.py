"""Several workers: the same service with one serving process and with two, side by side.

Two services run at once, each with its own database and its own fake upstream (the proxy
scenario's), set up the way a client sets them up: `python -m app serve --workers 1` and
`--workers 2`. Two cases at 32 connections each alternate between them in short rounds, the
order flipping every round, so that both see the same machine (see `bench.wrk.Alternation`):

1. `POST /v1/chat/completions` through the proxy with a project key (usage recorded). Goal: two
   workers serve at least 1.6x what one serves, as the median of the rounds' ratios.
2. `{ viewer { __typename } }` on /graphql as a signed-in user (an access token).

Once both services have stopped, the rows in each one's `usage_events` are counted and compared
with the requests its fake received through it: with two workers too, every proxied request is
counted once.
"""

from __future__ import annotations

import secrets
import tempfile
from dataclasses import replace
from pathlib import Path

from bench.model import Measurement, RunOptions, Scenario, ScenarioResult
from bench.scenarios.api_keys import verdict
from bench.scenarios.graphql import sign_up
from bench.scenarios.proxy import Deployment, deployed, upstream_process
from bench.wrk import (
    QUICK_ROUNDS,
    ROUND_S,
    ROUNDS,
    SETTLE_S,
    Alternation,
    HttpCase,
    alternate,
    ensure_wrk,
    preflight,
    server_remarks,
    wrk_description,
)

CONNECTIONS = 32
WORKERS = 2
PROXY_GOAL = 1.6
VIEWER = "{ viewer { __typename } }"

PROXY_ONE = "proxy, 1 worker"
PROXY_TWO = f"proxy, {WORKERS} workers"
GRAPHQL_ONE = "GraphQL viewer as user, 1 worker"
GRAPHQL_TWO = f"GraphQL viewer as user, {WORKERS} workers"


def run(options: RunOptions) -> ScenarioResult:
    wrk = ensure_wrk()
    provider_secret = f"sk-bench-{secrets.token_hex(16)}"
    rounds = QUICK_ROUNDS if options.quick else ROUNDS
    with (
        tempfile.TemporaryDirectory(prefix="traylinx-bench-") as workdir_name,
        upstream_process(Path(workdir_name) / "fake-1", marker=provider_secret) as fake_one,
        upstream_process(Path(workdir_name) / "fake-2", marker=provider_secret) as fake_two,
    ):
        workdir = Path(workdir_name)
        with (
            deployed(options, fake_one, provider_secret, workdir / "one", usage=True) as one,
            deployed(
                options, fake_two, provider_secret, workdir / "two", usage=True, workers=WORKERS
            ) as two,
        ):
            proxy = alternate(
                wrk,
                (replace(two.case, label=PROXY_TWO), two.service),
                (replace(one.case, label=PROXY_ONE), one.service),
                rounds=rounds,
                connections=CONNECTIONS,
                warmup_s=options.warmup_s,
            )
            graphql = alternate(
                wrk,
                (viewer_case(two, GRAPHQL_TWO), two.service),
                (viewer_case(one, GRAPHQL_ONE), one.service),
                rounds=rounds,
                connections=CONNECTIONS,
                warmup_s=options.warmup_s,
            )
            measured = proxy.measurements + graphql.measurements
            warnings, notes = server_remarks(one.service, measured)
            two_warnings, two_notes = server_remarks(two.service, measured)
        warnings += two_warnings + usage_warnings({"1 worker": one, f"{WORKERS} workers": two})
        warnings += fake_one.remarks() + fake_two.remarks()
    return ScenarioResult(
        measurements=with_ratios(proxy) + with_ratios(graphql),
        ratio_label="vs 1 worker",
        facts={
            "services": f"`serve --workers 1` and `serve --workers {WORKERS}` side by side, "
            "each with its own database and fake upstream (bench/fake_upstream.py); usage "
            "recording on",
            "proxy": f"POST /v1/chat/completions with a project key, c={CONNECTIONS}",
            "graphql": f"POST /graphql {VIEWER} with a user's access token, c={CONNECTIONS}",
            "usage": f"1 worker: {one.describe_usage()}; {WORKERS} workers: {two.describe_usage()}",
            "alternating": f"{proxy.rounds} rounds of {ROUND_S} s runs per case, the order "
            f"flipping each round, a {SETTLE_S:g} s pause after each run; rows: all rounds "
            "together (p50/p99: medians of the rounds'); vs 1 worker: the median of the "
            "rounds' ratios",
            "load": wrk_description(wrk),
        },
        warnings=warnings,
        notes=[
            f"goal: proxy throughput with {WORKERS} workers / 1 worker at c={CONNECTIONS}, "
            f"{proxy.median_note(PROXY_GOAL)}: {verdict(proxy.median_ratio >= PROXY_GOAL)}; "
            f"{cpu_note(proxy)}",
            f"GraphQL throughput with {WORKERS} workers / 1 worker at c={CONNECTIONS}, median of "
            f"{graphql.rounds} alternating rounds = {graphql.median_ratio:.3f} "
            f"({graphql.median_interval().describe()}; each round: {graphql.each_round()}); "
            f"{cpu_note(graphql)}",
            *notes,
            *two_notes,
        ],
    )


def viewer_case(deployment: Deployment, label: str) -> HttpCase:
    """The signed-in `viewer` query against one service, checked once before it is timed."""
    token = sign_up(deployment.service)
    case = replace(
        HttpCase.graphql(VIEWER, expect_data={"viewer": {"__typename": "User"}}, token=token),
        label=label,
    )
    preflight(case, deployment.service.base_url)
    return case


def with_ratios(comparison: Alternation) -> list[Measurement]:
    """Both rows of a comparison, the several-worker one with the median of the ratios."""
    several, one = comparison.measurements
    return [replace(several, ratio=round(comparison.median_ratio, 3)), one]


def cpu_note(comparison: Alternation) -> str:
    """CPU per request of every process of each service (workers, usage writers, and with
    several workers the supervising process), over the runs and the pauses after them."""
    requests = [sum(pair[side].requests for pair in comparison.pairs) for side in (0, 1)]
    several, one = comparison.server_cpu
    if not all(requests) or not (several.total_s and one.total_s):
        return "server CPU per request: not measured"
    return (
        f"server CPU per request, all its processes: {several.total_s / requests[0] * 1e6:,.0f}"
        f" µs with {WORKERS} workers vs {one.total_s / requests[1] * 1e6:,.0f} µs with 1"
    )


def usage_warnings(deployments: dict[str, Deployment]) -> list[str]:
    warnings = []
    for name, deployment in deployments.items():
        usage = deployment.usage
        if usage is not None and usage.ok_rows != usage.forwarded:
            warnings.append(
                f"{name}: {usage.ok_rows:,} usage rows with status 200 for {usage.forwarded:,} "
                "proxied requests; the recorders lost or invented some"
            )
    return warnings


SCENARIO = Scenario(
    name="workers",
    title="Several workers",
    summary=f"proxy and signed-in GraphQL at c={CONNECTIONS} with 1 and {WORKERS} serving "
    "processes, in alternating rounds",
    run=run,
)
