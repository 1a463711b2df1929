"""Presenting results: a fixed-width table on stdout and JSON files under bench/results/."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import textwrap
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from bench.harness import REPO_ROOT
from bench.model import LatencyUnit, Measurement, RunOptions, Scenario, ScenarioResult

RESULTS_DIR = Path(__file__).resolve().parent / "results"
COLUMN_GAP = "  "
TEXT_WIDTH = 100


def machine_facts() -> dict[str, str]:
    """What the numbers depend on besides the code; stored with every result."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpus": str(os.cpu_count()),
        "usable_cpus": str(usable),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "commit": current_commit(),
    }


def current_commit() -> str:
    completed = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return completed.stdout.strip() or "unknown"


def render_table(
    scenario: Scenario, result: ScenarioResult, options: RunOptions, machine: dict[str, str]
) -> str:
    header = [
        f"{scenario.title} [{scenario.name}]",
        f"machine:  {machine['cpus']} CPUs ({machine['usable_cpus']} usable), "
        f"{machine['python']}, {machine['platform']}",
        f"run:      database {options.database}, {options.duration_s} s timed per row after "
        f"a {options.warmup_s} s warm-up, commit {machine['commit']}",
    ]
    header += [f"{name + ':':<9} {value}" for name, value in result.facts.items()]
    lines = [*header, "", *measurement_rows(result)]
    if result.problems:
        lines += ["", "PROBLEMS (these numbers are suspect):"]
        lines += [wrapped(problem, bullet="!") for problem in result.problems]
    if result.notes:
        lines += ["", "Notes:", *(wrapped(note, bullet="-") for note in result.notes)]
    return "\n".join(lines) + "\n"


def wrapped(text: str, *, bullet: str) -> str:
    return textwrap.fill(
        text, width=TEXT_WIDTH, initial_indent=f"  {bullet} ", subsequent_indent="    "
    )


class Column(NamedTuple):
    title: str
    width: int
    cell: Callable[[Measurement], str]


def measurement_columns(ratio_label: str | None, latency_unit: LatencyUnit = "ms") -> list[Column]:
    # Numbers are right-aligned so that their digits line up.
    columns = [
        Column("conns", 5, lambda m: "-" if m.connections is None else str(m.connections)),
        Column("req/s", 10, lambda m: f"{m.rps:,.1f}"),
        *latency_columns(latency_unit),
    ]
    if ratio_label:
        columns.append(
            Column(
                ratio_label,
                len(ratio_label),
                lambda m: "" if m.ratio is None else f"{m.ratio:.2f}x",
            )
        )
    # Failures in the timed run; "!" also flags a warm-up that failed.
    columns.append(Column("errors", 7, lambda m: f"{m.timed_failures}{' !' if m.failures else ''}"))
    return columns


def latency_columns(unit: LatencyUnit) -> list[Column]:
    if unit == "ms":
        return [
            Column("p50 ms", 8, lambda m: f"{m.p50_ms:.2f}"),
            Column("p99 ms", 8, lambda m: f"{m.p99_ms:.2f}"),
        ]
    # Microseconds with one decimal: in-process rows take a few of them, HTTP rows thousands.
    return [
        Column("p50 µs", 9, lambda m: f"{m.p50_ms * 1000:,.1f}"),
        Column("p99 µs", 9, lambda m: f"{m.p99_ms * 1000:,.1f}"),
    ]


def measurement_rows(result: ScenarioResult) -> list[str]:
    columns = measurement_columns(result.ratio_label, result.latency_unit)
    label_width = max([len("case"), *(len(m.label) for m in result.measurements)])

    def row(label: str, cells: list[str]) -> str:
        padded = [cell.rjust(column.width) for cell, column in zip(cells, columns, strict=True)]
        return COLUMN_GAP.join([label.ljust(label_width), *padded]).rstrip()

    title_row = row("case", [column.title for column in columns])
    lines = [title_row, "-" * len(title_row)]
    previous: Measurement | None = None
    for measurement in result.measurements:
        # A blank line between concurrency levels keeps each group's ratios easy to compare.
        if previous is not None and previous.connections != measurement.connections:
            lines.append("")
        lines.append(row(measurement.label, [column.cell(measurement) for column in columns]))
        previous = measurement
    return lines


def write_results(
    scenario: Scenario,
    result: ScenarioResult,
    options: RunOptions,
    machine: dict[str, str],
    started_at: datetime,
) -> tuple[Path, Path]:
    """Write <scenario>-<UTC timestamp>.json and refresh <scenario>-latest.json."""
    document = result_document(scenario, result, options, machine, started_at)
    text = json.dumps(document, indent=2) + "\n"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamped = RESULTS_DIR / f"{scenario.name}-{started_at.strftime('%Y%m%dT%H%M%SZ')}.json"
    latest = RESULTS_DIR / f"{scenario.name}-latest.json"
    stamped.write_text(text)
    latest.write_text(text)
    return stamped, latest


def result_document(
    scenario: Scenario,
    result: ScenarioResult,
    options: RunOptions,
    machine: dict[str, str],
    started_at: datetime,
) -> dict[str, Any]:
    return {
        "scenario": scenario.name,
        "title": scenario.title,
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "options": asdict(options),
        "facts": result.facts,
        "ratio_label": result.ratio_label,
        "latency_unit": result.latency_unit,
        "measurements": [
            asdict(measurement)
            | {
                "unexplained_server_errors": measurement.unexplained_server_errors,
                "timed_failures": measurement.timed_failures,
                "failures": measurement.failures,
            }
            for measurement in result.measurements
        ],
        "problems": result.problems,
        "notes": result.notes,
    }
