"""The scenario registry. A new scenario is a module here defining SCENARIO, listed below."""

from __future__ import annotations

from bench.model import Scenario
from bench.scenarios import api_keys, graphql, policies, proxy, scanner, usage, webhooks, workers

# In the order `python -m bench` runs them.
SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        graphql.SCENARIO,
        api_keys.SCENARIO,
        proxy.SCENARIO,
        policies.SCENARIO,
        usage.SCENARIO,
        workers.SCENARIO,
        webhooks.SCENARIO,
        scanner.SCENARIO,
    )
}
