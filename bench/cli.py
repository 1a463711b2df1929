"""Command line: `python -m bench [SCENARIO ...] [--list] [--duration S | --quick]`."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from types import FrameType

from bench.harness import HarnessError, progress
from bench.model import RunOptions, Scenario
from bench.report import machine_facts, render_table, write_results
from bench.scenarios import SCENARIOS

DEFAULT_DURATION_S = 5
QUICK_DURATION_S = 1
WARMUP_S = 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        print(scenario_list())
        return 0
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)} (see --list)")
    options = RunOptions(
        duration_s=QUICK_DURATION_S if args.quick else args.duration,
        warmup_s=WARMUP_S,
        database=args.database,
        quick=args.quick,
    )
    # SIGTERM (e.g. from a CI timeout) unwinds like Ctrl-C, so servers and databases are removed.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    chosen = [SCENARIOS[name] for name in args.scenarios or SCENARIOS]
    try:
        return run_scenarios(chosen, options)
    except KeyboardInterrupt as interruption:
        progress("interrupted")
        # The shell convention: 128 + the signal's number.
        return 128 + getattr(interruption, "signum", signal.SIGINT)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark TrayLinx Keys. Prints a table per scenario and writes JSON to "
        "bench/results/<scenario>-<UTC timestamp>.json and <scenario>-latest.json.",
    )
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="default: all of them")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    timing = parser.add_mutually_exclusive_group()
    timing.add_argument(
        "--duration",
        type=positive_int,
        default=DEFAULT_DURATION_S,
        metavar="SECONDS",
        help=f"timed run per measurement, after a {WARMUP_S} s warm-up "
        f"(default {DEFAULT_DURATION_S})",
    )
    timing.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_DURATION_S} s runs and smaller data sets (labelled), for a smoke test",
    )
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="a fresh SQLite file, or a fresh database on PostgreSQL at 127.0.0.1:5432 "
        "(dropped afterwards); default sqlite",
    )
    return parser


def positive_int(raw: str) -> int:
    # wrk takes whole seconds only.
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole seconds, got {raw!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def scenario_list() -> str:
    width = max(len(name) for name in SCENARIOS)
    return "\n".join(
        f"{name:<{width}}  {scenario.title}: {scenario.summary}"
        for name, scenario in SCENARIOS.items()
    )


def run_scenarios(chosen: list[Scenario], options: RunOptions) -> int:
    """Run each scenario in turn; exit status 1 if any failed or reported problems."""
    machine = machine_facts()
    all_clean = True
    for scenario in chosen:
        started_at = datetime.now(UTC)
        progress(f"scenario {scenario.name}: {scenario.title}")
        try:
            result = scenario.run(options)
        except HarnessError as error:
            # One broken scenario should not hide the results of the others.
            print(f"error: scenario {scenario.name}: {error}", file=sys.stderr)
            all_clean = False
            continue
        print(render_table(scenario, result, options, machine), flush=True)
        stamped, latest = write_results(scenario, result, options, machine, started_at)
        progress(f"wrote {stamped.name} and {latest.name} in {stamped.parent}")
        all_clean = all_clean and not result.problems
    return 0 if all_clean else 1


class Terminated(KeyboardInterrupt):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)
