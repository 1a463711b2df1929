"""The shapes every scenario shares: what it is given, what it measures, what it returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

DatabaseKind = Literal["sqlite", "postgres"]


@dataclass(frozen=True)
class RunOptions:
    """How long and against what each scenario measures; the same for every scenario in a run."""

    duration_s: int
    warmup_s: int
    database: DatabaseKind


@dataclass(frozen=True)
class Measurement:
    """One timed run: a case at one concurrency.

    `connections` is None for measurements that are not driven over connections (in-process
    loops); `ratio` is the throughput relative to the scenario's baseline row, when it has one.
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
    ratio: float | None = None

    @property
    def failures(self) -> int:
        return self.non_2xx + self.socket_errors

    def problem(self) -> str | None:
        """A one-line description of what went wrong during the run, or None when nothing did."""
        if not self.failures:
            return None
        where = self.label if self.connections is None else f"{self.label} at c={self.connections}"
        return (
            f"{where}: {self.non_2xx} non-2xx responses and {self.socket_errors} socket errors "
            f"out of {self.requests} requests"
        )


@dataclass(frozen=True)
class ScenarioResult:
    """What a scenario reports: its rows, plus anything surprising it noticed along the way."""

    measurements: list[Measurement]
    ratio_label: str | None = None
    facts: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

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
