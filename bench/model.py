"""The shapes every scenario shares: what it is given, what it measures, what it returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

DatabaseKind = Literal["sqlite", "postgres"]
LatencyUnit = Literal["ms", "us"]


@dataclass(frozen=True)
class RunOptions:
    """How long and against what each scenario measures; the same for every scenario in a run.

    `quick` asks for a smoke test: scenarios may also shrink their data, and say so in their labels.
    """

    duration_s: int
    warmup_s: int
    database: DatabaseKind
    quick: bool = False


@dataclass(frozen=True)
class Measurement:
    """One timed run: a case at one concurrency.

    `connections` is None for measurements that are not driven over connections (in-process
    loops); `ratio` is the throughput relative to the scenario's baseline row, when it has one.

    Failures are counted from both ends. The load generator sees `non_2xx` responses and
    `socket_errors`; the server logs `server_errors`. Stopping a run closes connections with up to
    one request each still in flight, and the server may log those as errors that no client ever
    receives, so up to `connections` logged errors beyond the non-2xx responses are expected.
    In-process measurements count `wrong_results` instead: calls whose outcome was not the one
    the case expects (a valid credential refused, a malformed one accepted).
    `warmup_failures` counts the same kinds of failure during the untimed warm-up.
    """

    label: str
    connections: int | None
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int = 0
    socket_errors: int = 0
    server_errors: int = 0
    wrong_results: int = 0
    warmup_failures: int = 0
    ratio: float | None = None
    # Timed runs pooled into this row (bench.wrk.combined): each may leave `connections`
    # requests cut off.
    runs: int = 1

    @property
    def unexplained_server_errors(self) -> int:
        cut_off = self.connections * self.runs if self.connections is not None else None
        return unexplained_server_errors(self.server_errors, self.non_2xx, cut_off)

    @property
    def timed_failures(self) -> int:
        return (
            self.non_2xx + self.socket_errors + self.unexplained_server_errors + self.wrong_results
        )

    @property
    def failures(self) -> int:
        return self.timed_failures + self.warmup_failures

    def problem(self) -> str | None:
        """A one-line description of what went wrong during the run, or None when nothing did."""
        if not self.failures:
            return None
        where = self.label if self.connections is None else f"{self.label} at c={self.connections}"
        counts = [
            (self.non_2xx, "non-2xx responses"),
            (self.socket_errors, "socket errors"),
            (self.unexplained_server_errors, "unexplained errors in the server log"),
            (self.wrong_results, "wrong results"),
        ]
        found = [f"{count} {what}" for count, what in counts if count]
        unit = "requests" if self.connections is not None else "calls"
        parts = [f"{', '.join(found)} in {self.requests} timed {unit}"] if found else []
        if self.warmup_failures:
            parts.append(f"{self.warmup_failures} failures during the warm-up")
        return f"{where}: {'; '.join(parts)}"


def unexplained_server_errors(logged: int, non_2xx: int, connections: int | None) -> int:
    """Errors the server logged beyond what the failed and cut-off requests account for."""
    return max(0, logged - non_2xx - (connections or 0))


@dataclass(frozen=True)
class ScenarioResult:
    """What a scenario reports: its rows, anything wrong it noticed, and neutral remarks.

    `warnings` mark the numbers as suspect (like failed requests do); `notes` do not.
    `latency_unit` is how the table shows p50 and p99 (the JSON keeps milliseconds): "us" suits
    scenarios whose rows take microseconds.
    """

    measurements: list[Measurement]
    ratio_label: str | None = None
    latency_unit: LatencyUnit = "ms"
    facts: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        found = [m.problem() for m in self.measurements]
        return [problem for problem in found if problem] + self.warnings


@dataclass(frozen=True)
class Scenario:
    """A named benchmark. `run` starts whatever it needs and must clean up after itself."""

    name: str
    title: str
    summary: str
    run: Callable[[RunOptions], ScenarioResult]
