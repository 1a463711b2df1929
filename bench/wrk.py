"""HTTP load with wrk: install it if needed, check a case once, then time it.

wrk only sees status codes, and it counts responses with status >= 400 as its "non-2xx or 3xx"
errors. GraphQL reports most failures inside a 200 response, so every case is first sent once
with httpx and its body compared with what the case expects (`preflight`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from bench.harness import HarnessError, RunningService, progress
from bench.model import Measurement, unexplained_server_errors

REPORT_SCRIPT = Path(__file__).resolve().parent / "wrk_report.lua"
RESULT_PREFIX = "BENCH_RESULT "
# On small machines extra wrk threads only take CPU away from the server being measured.
MAX_THREADS = 2
# Generous, so that slow responses under load are measured rather than dropped as timeouts.
REQUEST_TIMEOUT_S = 10


@dataclass(frozen=True)
class HttpCase:
    """One kind of request, and the JSON a correct response carries (None: any 200).

    `expect_error_codes`, for GraphQL cases whose correct answer is an error: the response must
    then carry exactly these `errors[].extensions.code`, in order, and otherwise equal
    `expect_json`. Only the codes are compared, so that error wording may change.

    `base_url` sends the case to another server than the service under test (a scenario's own
    fake, say); None sends it to the service.
    """

    label: str
    method: str
    path: str
    body: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    expect_json: Any = None
    expect_error_codes: tuple[str, ...] = ()
    base_url: str | None = None

    @classmethod
    def graphql(
        cls,
        query: str,
        *,
        expect_data: Any,
        token: str | None = None,
        expect_error_codes: tuple[str, ...] = (),
    ) -> HttpCase:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return cls(
            label=f"POST /graphql {query}" + (" as user" if token else ""),
            method="POST",
            path="/graphql",
            body=json.dumps({"query": query}, separators=(",", ":")),
            headers=headers,
            expect_json={"data": expect_data},
            expect_error_codes=expect_error_codes,
        )

    @classmethod
    def json_post(
        cls,
        label: str,
        path: str,
        payload: Any,
        *,
        expect_json: Any,
        token: str | None = None,
        base_url: str | None = None,
    ) -> HttpCase:
        """A POST of a JSON body to a plain (non-GraphQL) endpoint, expecting `expect_json`."""
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return cls(
            label=label,
            method="POST",
            path=path,
            body=json.dumps(payload, separators=(",", ":")),
            headers=headers,
            expect_json=expect_json,
            base_url=base_url,
        )

    def url(self, service_url: str) -> str:
        """Where the case is sent, given the base URL of the service under test."""
        return (self.base_url or service_url) + self.path

    def accepts(self, body: Any) -> bool:
        """Whether a 200 response's parsed body is the correct answer."""
        if self.expect_json is None:
            return True
        if not self.expect_error_codes:
            return bool(body == self.expect_json)
        if not isinstance(body, dict):
            return False
        rest = {name: value for name, value in body.items() if name != "errors"}
        return rest == self.expect_json and error_codes(body.get("errors")) == list(
            self.expect_error_codes
        )


def error_codes(errors: Any) -> list[Any] | None:
    """The `extensions.code` of each GraphQL error, or None when `errors` is not such a list."""
    if not isinstance(errors, list) or not all(isinstance(error, dict) for error in errors):
        return None
    return [error_code(error) for error in errors]


def error_code(error: dict[str, Any]) -> Any:
    extensions = error.get("extensions")
    return extensions.get("code") if isinstance(extensions, dict) else None


@dataclass(frozen=True)
class WrkReport:
    """The numbers printed by wrk_report.lua's done() callback."""

    duration_us: int
    requests: int
    bytes: int
    connect_errors: int
    read_errors: int
    write_errors: int
    timeouts: int
    status_errors: int
    latency_mean_us: float
    latency_p50_us: int
    latency_p90_us: int
    latency_p99_us: int
    latency_max_us: int

    @property
    def socket_errors(self) -> int:
        return self.connect_errors + self.read_errors + self.write_errors + self.timeouts

    def measurement(self, label: str, connections: int) -> Measurement:
        seconds = self.duration_us / 1_000_000
        return Measurement(
            label=label,
            connections=connections,
            requests=self.requests,
            duration_s=round(seconds, 3),
            rps=round(self.requests / seconds, 1) if seconds else 0.0,
            p50_ms=round(self.latency_p50_us / 1000, 3),
            p99_ms=round(self.latency_p99_us / 1000, 3),
            non_2xx=self.status_errors,
            socket_errors=self.socket_errors,
        )


def ensure_wrk() -> str:
    """The path of wrk, installing the Debian package first when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise HarnessError("wrk is not installed; install it with `sudo apt-get install -y wrk`")
    progress("wrk is not installed; installing it with apt-get")
    install_with_apt("wrk")
    found = shutil.which("wrk")
    if not found:
        raise HarnessError("apt-get installed wrk, but it is still not on PATH")
    return found


def install_with_apt(package: str) -> None:
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", package]

    def apt(command: list[str]) -> bool:
        # apt's chatter goes to stderr: stdout is reserved for the result tables.
        return subprocess.run(command, env=env, stdout=sys.stderr, check=False).returncode == 0

    # Fresh containers often have no package lists yet; refresh them only when needed.
    if not apt(install) and not (apt(["apt-get", "update"]) and apt(install)):
        raise HarnessError(f"could not install {package} with apt-get (see the output above)")


def wrk_description(wrk: str) -> str:
    """E.g. "wrk 4.1.0 [epoll], threads = min(connections, 2)", for a result's facts."""
    # `wrk -v` prints "wrk 4.1.0 [epoll] Copyright ..." and exits with status 1.
    output = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False).stdout
    version = " ".join(output.split()[:3]) or "wrk (unknown version)"
    return f"{version}, threads = min(connections, {MAX_THREADS})"


def preflight(case: HttpCase, base_url: str) -> None:
    """Send the case once and check the answer, so that a broken case cannot be timed."""
    response = httpx.request(
        case.method, case.url(base_url), content=case.body, headers=dict(case.headers)
    )
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    if response.status_code != 200 or not case.accepts(body):
        errors = (
            f" and error codes {list(case.expect_error_codes)}" if case.expect_error_codes else ""
        )
        raise HarnessError(
            f"{case.label}: expected 200 with {json.dumps(case.expect_json)}{errors}, "
            f"got {response.status_code} with {response.text[:500]}"
        )


def measure(
    wrk: str,
    case: HttpCase,
    service: RunningService,
    *,
    connections: int,
    duration_s: int,
    warmup_s: int,
) -> Measurement:
    """A warm-up run whose numbers are dropped (its failures still count), then the timed run."""
    progress(f"{case.label} at c={connections}: {warmup_s} s warm-up, {duration_s} s timed")
    warmup_failures = warm_up(wrk, case, service, connections=connections, duration_s=warmup_s)
    timed = timed_run(wrk, case, service, connections=connections, duration_s=duration_s)
    return replace(timed, warmup_failures=warmup_failures)


def warm_up(
    wrk: str, case: HttpCase, service: RunningService, *, connections: int, duration_s: int
) -> int:
    """The first requests pay for lazy imports, caches and pool connections: a run whose numbers
    are dropped. Returns its failures, which still count."""
    errors_before = len(service.logged_errors())
    warmup = run_wrk(wrk, case, service.base_url, connections=connections, duration_s=duration_s)
    service.wait_for_quiet_log()
    server_errors = unexplained_server_errors(
        len(service.logged_errors()) - errors_before, warmup.status_errors, connections
    )
    return warmup.status_errors + warmup.socket_errors + server_errors


def timed_run(
    wrk: str, case: HttpCase, service: RunningService, *, connections: int, duration_s: int
) -> Measurement:
    errors_before = len(service.logged_errors())
    timed = run_wrk(wrk, case, service.base_url, connections=connections, duration_s=duration_s)
    service.wait_for_quiet_log()
    return replace(
        timed.measurement(case.label, connections),
        server_errors=len(service.logged_errors()) - errors_before,
    )


# Comparisons alternate many short runs: ROUND_S seconds each, ROUNDS of each case. Rounds'
# ratios spread by 0.03-0.05 (sd) on this kind of machine; twenty of them put the median within
# about +-0.02-0.03 (`Alternation.median_interval`).
ROUNDS = 20
QUICK_ROUNDS = 3
ROUND_S = 2
# The services compared flush usage every COMPARED_FLUSH_S, the default (`comparison_settings()`
# pins it), and each run is followed by a pause a little longer: the writes a run defers are made
# within it or in the pause after it - counted in its server CPU - never in the other case's run.
COMPARED_FLUSH_S = 2.0
SETTLE_S = 2.5


@dataclass(frozen=True)
class ServerCpu:
    """CPU (user + system) of a server's own process, and of its child processes (the usage
    writer), live or ended."""

    serving_s: float = 0.0
    children_s: float = 0.0

    @property
    def total_s(self) -> float:
        return self.serving_s + self.children_s

    def __add__(self, other: ServerCpu) -> ServerCpu:
        return ServerCpu(self.serving_s + other.serving_s, self.children_s + other.children_s)

    def __sub__(self, other: ServerCpu) -> ServerCpu:
        return ServerCpu(self.serving_s - other.serving_s, self.children_s - other.children_s)

    def per_request_us(self, requests: int) -> ServerCpu:
        return ServerCpu(self.serving_s / requests * 1e6, self.children_s / requests * 1e6)


@dataclass(frozen=True)
class Alternation:
    """Two cases timed in turn, one (compared, base) pair of runs per round.

    This 2-core machine's speed swings by a third, even by half, from one second to the next,
    more than the differences being compared: two long runs back to back mostly measure the
    swing. Short runs alternating (the order flipping every round) let both cases see the same
    machine, and the median of the rounds' ratios shrugs off the rounds where it changed.
    """

    pairs: list[tuple[Measurement, Measurement]]
    # Server CPU each side used over its runs and the pauses after them (where its deferred
    # writes land): (compared, base).
    server_cpu: tuple[ServerCpu, ServerCpu] = (ServerCpu(), ServerCpu())

    @property
    def rounds(self) -> int:
        return len(self.pairs)

    @property
    def median_ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def ratios(self) -> list[float]:
        return [compared.rps / base.rps if base.rps else 0.0 for compared, base in self.pairs]

    def median_interval(self) -> MedianInterval:
        return MedianInterval.of(self.ratios)

    @property
    def measurements(self) -> list[Measurement]:
        """Each case over all its rounds: compared, then base."""
        return [combined([c for c, _ in self.pairs]), combined([b for _, b in self.pairs])]

    def median_note(self, goal: float) -> str:
        """E.g. "median of 20 alternating rounds = 0.943 (95.9% interval ...; each round: ...;
        target >= 0.9)", for a goal's note."""
        return (
            f"median of {self.rounds} alternating rounds = {self.median_ratio:.3f} "
            f"({self.median_interval().describe()}; each round: {self.each_round()}; "
            f"target >= {goal})"
        )

    def each_round(self) -> str:
        return ", ".join(f"{c.rps / b.rps:.2f}" if b.rps else "-" for c, b in self.pairs)

    def cpu_note(self) -> str:
        """Server CPU per request of each side: unlike throughput, hardly moved by the machine's
        swings. A saturated one-worker server serves the inverse of its serving process's."""
        requests = [sum(pair[side].requests for pair in self.pairs) for side in (0, 1)]
        if not all(requests) or not all(cpu.total_s for cpu in self.server_cpu):
            return "server CPU per request: not measured"
        compared, base = (
            cpu.per_request_us(count) for cpu, count in zip(self.server_cpu, requests, strict=True)
        )
        note = (
            f"server CPU per request, runs and pauses after them: {compared.total_s:,.0f} µs vs "
            f"{base.total_s:,.0f} µs"
        )
        if not (compared.children_s or base.children_s):
            return f"{note}, so {base.total_s / compared.total_s:.2f}x the throughput at equal CPU"
        return (
            f"{note}; of it the serving process {compared.serving_s:,.0f} µs vs "
            f"{base.serving_s:,.0f} µs ({base.serving_s / compared.serving_s:.2f}x the throughput "
            f"at equal CPU) and its child processes {compared.children_s:,.0f} µs vs "
            f"{base.children_s:,.0f} µs"
        )


@dataclass(frozen=True)
class MedianInterval:
    """A distribution-free confidence interval for the median of some values: the pair of
    order statistics around it that the true median lies between with at least `coverage`,
    whatever the values' distribution (each value falls below the median with probability 1/2,
    so how many do is binomial)."""

    low: float
    high: float
    coverage: float

    @classmethod
    def of(cls, values: list[float], confidence: float = 0.95) -> MedianInterval:
        ordered = sorted(values)
        n = len(ordered)
        if n == 0:
            return cls(0.0, 0.0, 0.0)

        def fewer_than(k: int) -> float:
            """P(fewer than k of the n values fall below the median)."""
            return sum(math.comb(n, i) for i in range(k)) / 2**n

        k = 1  # the k-th smallest and the k-th largest
        while 2 * (k + 1) <= n and fewer_than(k + 1) <= (1 - confidence) / 2:
            k += 1
        return cls(ordered[k - 1], ordered[n - k], 1 - 2 * fewer_than(k))

    def describe(self) -> str:
        return f"{self.coverage:.1%} interval of the median {self.low:.3f}-{self.high:.3f}"


def alternate(
    wrk: str,
    compared: tuple[HttpCase, RunningService],
    base: tuple[HttpCase, RunningService],
    *,
    rounds: int,
    connections: int,
    warmup_s: int,
) -> Alternation:
    """After one warm-up of each, `rounds` rounds of ROUND_S seconds per case."""
    sides = (compared, base)
    warmup_failures = [
        warm_up(wrk, case, service, connections=connections, duration_s=warmup_s)
        for case, service in sides
    ]
    progress(
        f"{compared[0].label} vs {base[0].label} at c={connections}: {warmup_s} s warm-up "
        f"each, then {rounds} alternating rounds of {ROUND_S} s"
    )
    pairs = []
    cpu = [ServerCpu(), ServerCpu()]
    for index in range(rounds):
        runs: dict[int, Measurement] = {}
        for side in (0, 1) if index % 2 == 0 else (1, 0):
            case, service = sides[side]
            cpu_before = server_cpu(service.process.pid)
            run = timed_run(wrk, case, service, connections=connections, duration_s=ROUND_S)
            if index == 0:  # the warm-ups' failures count once, with the first round
                run = replace(run, warmup_failures=warmup_failures[side])
            runs[side] = run
            time.sleep(SETTLE_S)
            cpu[side] += server_cpu(service.process.pid) - cpu_before
        pairs.append((runs[0], runs[1]))
    return Alternation(pairs, server_cpu=(cpu[0], cpu[1]))


def server_cpu(pid: int) -> ServerCpu:
    """What the process `pid` and its descendants have used so far; 0 where /proc is not."""
    try:
        own, ended_children = _cpu_of(pid)
    except OSError:
        return ServerCpu()
    live_children = sum(server_cpu(child).total_s for child in _children(pid))
    return ServerCpu(own, ended_children + live_children)


def _cpu_of(pid: int) -> tuple[float, float]:
    """(the process's own CPU seconds, those of its children that ended and were reaped)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime, stime, cutime, cstime: fields 14-17 of stat(5), 12-15 after the command name.
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks, (int(fields[13]) + int(fields[14])) / ticks


def _children(pid: int) -> list[int]:
    """The live child processes of `pid`; none where the kernel does not list them."""
    children: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            # A thread may end between the listing and the read.
            with contextlib.suppress(OSError):
                children.extend(int(child) for child in (task / "children").read_text().split())
    return children


def comparison_settings() -> dict[str, str]:
    """Settings for a service compared in alternating rounds (see SETTLE_S)."""
    return {"TRAYLINX_USAGE_FLUSH_SECONDS": str(COMPARED_FLUSH_S)}


def combined(runs: list[Measurement]) -> Measurement:
    """Runs of one case as one row: totals, throughput over the total time, and the medians of
    the runs' p50 and p99 (a run's percentiles cannot be merged without its samples)."""
    requests = sum(run.requests for run in runs)
    duration_s = sum(run.duration_s for run in runs)
    return replace(
        runs[0],
        requests=requests,
        duration_s=round(duration_s, 3),
        rps=round(requests / duration_s, 1) if duration_s else 0.0,
        p50_ms=statistics.median(run.p50_ms for run in runs),
        p99_ms=statistics.median(run.p99_ms for run in runs),
        non_2xx=sum(run.non_2xx for run in runs),
        socket_errors=sum(run.socket_errors for run in runs),
        server_errors=sum(run.server_errors for run in runs),
        wrong_results=sum(run.wrong_results for run in runs),
        warmup_failures=sum(run.warmup_failures for run in runs),
        runs=sum(run.runs for run in runs),
    )


def server_remarks(
    service: RunningService, measurements: list[Measurement]
) -> tuple[list[str], list[str]]:
    """(warnings, notes) about the server itself, for a scenario's result."""
    warnings = [problem] if (problem := service.exit_problem()) else []
    logged = service.logged_errors()
    unexplained = sum(m.unexplained_server_errors for m in measurements)
    notes = []
    if logged and not unexplained:
        notes.append(
            f"the server logged {len(logged)} errors, in each run no more than the requests "
            "still in flight when wrk closed its connections; not counted as failures "
            f"(first: {logged[0]!r})"
        )
    elif logged:
        warnings.append(f"the server logged {len(logged)} errors (first: {logged[0]!r})")
    return warnings, notes


def run_wrk(
    wrk: str, case: HttpCase, base_url: str, *, connections: int, duration_s: int
) -> WrkReport:
    command = [
        wrk,
        f"--threads={threads_for(connections)}",
        f"--connections={connections}",
        f"--duration={duration_s}s",
        f"--timeout={REQUEST_TIMEOUT_S}s",
        f"--script={REPORT_SCRIPT}",
        case.url(base_url),
    ]
    completed = subprocess.run(
        command,
        env=os.environ | request_environment(case),
        capture_output=True,
        text=True,
        timeout=duration_s + REQUEST_TIMEOUT_S + 30,
        check=False,
    )
    if completed.returncode != 0:
        raise HarnessError(
            f"wrk failed with status {completed.returncode} on {case.label}:\n"
            f"{completed.stderr.strip() or completed.stdout.strip()}"
        )
    return parse_report(completed.stdout)


def threads_for(connections: int) -> int:
    """1 thread for one connection, MAX_THREADS for more (wrk needs connections >= threads)."""
    return min(connections, MAX_THREADS)


def request_environment(case: HttpCase) -> dict[str, str]:
    """The variables wrk_report.lua reads to build the request."""
    return {
        "BENCH_METHOD": case.method,
        "BENCH_BODY": case.body or "",
        "BENCH_HEADERS": "\n".join(f"{name}: {value}" for name, value in case.headers.items()),
    }


def parse_report(stdout: str) -> WrkReport:
    for line in stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return WrkReport(**json.loads(line.removeprefix(RESULT_PREFIX)))
    raise HarnessError(f"wrk printed no {RESULT_PREFIX.strip()} line:\n{stdout.strip()}")
