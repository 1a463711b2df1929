"""Key policies on the proxy's path: a key with a full policy vs a key with none, one service.

The service runs with TRAYLINX_REDIS_URL (the local Redis), so a policy's counters are the ones
several processes share: a rate limit, a token rate, a concurrency limit and a token and a
spend budget are each checked (and counted) in Redis on every request, besides the scopes, the
model allow-list and the address allow-list checked in process. The limits are set far above
what the run reaches, so every request is forwarded: what is measured is the cost of checking,
not of refusing. Both keys belong to one project, whose OpenAI provider key points at the fake
upstream (bench/fake_upstream.py).

Both keys take turns in short runs (see `bench.wrk.Alternation`): at 1 connection, where the
goal is the p50 the policy adds (at most 0.15 ms, the median of the rounds' differences), and at
32, where it is the throughput with the policy against without (at least 0.85x, the median of
the rounds' ratios).
"""

from __future__ import annotations

import os
import secrets
import statistics
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.fake_upstream import COMPLETION
from bench.harness import HarnessError, RunningService, provisioned_database, server_process
from bench.model import Measurement, RunOptions, Scenario, ScenarioResult
from bench.scenarios.api_keys import mutation_payload, verdict
from bench.scenarios.proxy import (
    COMPLETIONS_PATH,
    MODEL,
    REQUEST,
    project_with_provider,
    proxy_settings,
    upstream_process,
)
from bench.wrk import (
    QUICK_ROUNDS,
    ROUND_S,
    SETTLE_S,
    Alternation,
    HttpCase,
    alternate,
    ensure_wrk,
    preflight,
    server_remarks,
    wrk_description,
)

ADDED_P50_GOAL_MS = 0.15
THROUGHPUT_GOAL = 0.85
# As many as the proxy scenario's: rounds' ratios at c=32 spread widely on a 2-core machine
# whose speed drifts within seconds, and the goal is judged on their median.
ROUNDS = 20
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")

WITH_POLICY = "via proxy, key with a policy (counters in Redis)"
WITHOUT_POLICY = "via proxy, key without a policy"

# Everything a policy can hold, each limit far above what a run reaches.
POLICY: dict[str, Any] = {
    "scopes": ["PROXY"],
    "allowedModels": [MODEL],
    "allowedIps": ["127.0.0.0/8", "::1/128"],
    "requestsPerMinute": 1_000_000,
    "tokensPerMinute": 1_000_000_000,
    "maxConcurrentRequests": 10_000,
    "tokenBudget": {"limit": 2_000_000_000, "period": "MONTH"},
    "spendBudgetUsd": {"limit": "10000000", "period": "MONTH"},
}


def run(options: RunOptions) -> ScenarioResult:
    wrk = ensure_wrk()
    provider_secret = f"sk-bench-{secrets.token_hex(16)}"
    rounds = QUICK_ROUNDS if options.quick else ROUNDS
    with (
        tempfile.TemporaryDirectory(prefix="traylinx-bench-") as workdir_name,
        upstream_process(Path(workdir_name) / "fake", marker=provider_secret) as fake,
    ):
        workdir = Path(workdir_name) / "service"
        workdir.mkdir()
        settings = {**proxy_settings(fake, usage=True), "TRAYLINX_REDIS_URL": REDIS_URL}
        with (
            provisioned_database(options.database, workdir) as database_url,
            server_process(database_url, workdir, settings) as service,
        ):
            with_policy, without = set_up_keys(service, provider_secret)
            for case in (with_policy, without):
                preflight(case, service.base_url)
            one = alternate(
                wrk,
                (with_policy, service),
                (without, service),
                rounds=rounds,
                connections=1,
                warmup_s=options.warmup_s,
            )
            many = alternate(
                wrk,
                (with_policy, service),
                (without, service),
                rounds=rounds,
                connections=32,
                warmup_s=options.warmup_s,
            )
            warnings, notes = server_remarks(service, one.measurements + many.measurements)
        warnings += fake.remarks()
    measurements = [*rated(one), *rated(many)]
    return ScenarioResult(
        measurements=measurements,
        ratio_label="vs no policy",
        facts={
            "policy": "scopes [PROXY], allowedModels [gpt-4o], allowedIps [127.0.0.0/8, ::1], "
            "requestsPerMinute 1,000,000, tokensPerMinute 1e9, maxConcurrentRequests 10,000, "
            "tokenBudget 2e9/month, spendBudgetUsd 10,000,000/month (none reached)",
            "counters": f"Redis at {REDIS_URL} (TRAYLINX_REDIS_URL)",
            "proxy": f"POST {COMPLETIONS_PATH} to the fake upstream, one uvicorn worker, usage "
            "recording on; both keys in one project of one service",
            "alternating": f"{rounds} rounds of {ROUND_S} s runs per connection count, the "
            f"order flipping each round, a {SETTLE_S:g} s pause after each run; rows: all "
            "rounds together (p50/p99: medians of the rounds')",
            "load": wrk_description(wrk),
        },
        warnings=warnings,
        notes=[added_p50_note(one), throughput_note(many), *notes],
    )


def rated(alternation: Alternation) -> list[Measurement]:
    compared, base = alternation.measurements
    return [replace(compared, ratio=round(alternation.median_ratio, 3)), base]


def added_p50(alternation: Alternation) -> float:
    """The median over the rounds of the p50 the policy added (ms)."""
    return statistics.median(c.p50_ms - b.p50_ms for c, b in alternation.pairs)


def added_p50_note(alternation: Alternation) -> str:
    added = added_p50(alternation)
    each = ", ".join(f"{c.p50_ms - b.p50_ms:+.3f}" for c, b in alternation.pairs)
    return (
        f"goal: p50 added by the policy at c=1, median of {alternation.rounds} rounds' "
        f"differences = {added:.3f} ms (each round: {each}; target <= {ADDED_P50_GOAL_MS} ms): "
        f"{verdict(added <= ADDED_P50_GOAL_MS)}"
    )


def throughput_note(alternation: Alternation) -> str:
    return (
        f"goal: throughput with the policy / without at c=32, "
        f"{alternation.median_note(THROUGHPUT_GOAL)}: "
        f"{verdict(alternation.median_ratio >= THROUGHPUT_GOAL)}; {alternation.cpu_note()}"
    )


def set_up_keys(service: RunningService, provider_secret: str) -> tuple[HttpCase, HttpCase]:
    """Two keys of one project, one with POLICY, made over GraphQL as a client makes them."""
    token, project_id = project_with_provider(service, provider_secret, "Bench policy project")
    cases = []
    for label, policy in ((WITH_POLICY, POLICY), (WITHOUT_POLICY, None)):
        created = mutation_payload(
            service,
            CREATE_API_KEY_WITH_POLICY,
            {"projectId": project_id, "note": label, "policy": policy},
            token,
            "createApiKey",
        )
        secret = created.get("secret")
        if not isinstance(secret, str):
            raise HarnessError(f"createApiKey returned no secret: {created}")
        cases.append(
            HttpCase.json_post(
                label, COMPLETIONS_PATH, REQUEST, expect_json=COMPLETION, token=secret
            )
        )
    return cases[0], cases[1]


CREATE_API_KEY_WITH_POLICY = (
    "mutation($i: CreateApiKeyInput!){ createApiKey(input: $i){ secret "
    "apiKey{ id } userErrors{ field message } } }"
)

SCENARIO = Scenario(
    name="policies",
    title="Key policies on the proxy",
    summary="a key with a full policy (counters in Redis) vs a key without, through the proxy, "
    "at c=1 (added p50) and c=32 (throughput), in alternating rounds",
    run=run,
)
