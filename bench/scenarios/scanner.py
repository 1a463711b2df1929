"""The leaked-key scanner: how many MB/s `python -m app scan` reads through a source tree.

A tree of source-like text (Python, TypeScript, YAML, Markdown lines; files of 4-400 KB in
nested folders) is written to a temporary folder: about 150 MB, 20 MB with --quick. A few
checksum-valid keys are sprinkled in, and lines with `tlx_` lookalikes (`tlx_config`,
`TLX_...`) so the pattern, not only the quick `tlx_` pre-check, does some work.

Each case runs `python -m app scan --format json` as its own process, three times; the row is
the median run. Two rates: the scan's (the tree's bytes over the JSON summary's `seconds`: folder
walk, reading, matching), which is what grows with the data and what the goal is about, and the
whole run's (interpreter start, imports, the database, output), which is what a person or a CI
job waits for; the difference is a fixed cost, given in the facts. The files are in the page
cache after the first write, so this measures the scanner, not the disk.

1. --offline: scanning only (checksums, no database).
2. With the database: the same, plus the status look-up of the keys found (they are unknown to
   the freshly migrated database, which costs the same one query as known ones).

The goal is a scan of at least 50 MB/s on a 2-core machine.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from app.security import tokens
from app.security.crypto import EncryptionKey
from bench.harness import HarnessError, progress, provisioned_database
from bench.model import Measurement, RunOptions, Scenario, ScenarioResult

ROOT = Path(__file__).resolve().parent.parent.parent
RUNS = 3
GOAL_MB_S = 50.0
KEYS_SPRINKLED = 12
LINES = [
    "import os",
    "from dataclasses import dataclass, field",
    "def handle_request(request: Request, *, timeout: float = 30.0) -> Response:",
    "    return self._client.post(url, json=payload, headers={'Accept': 'application/json'})",
    "    if not items:  # nothing to do for an empty batch",
    "        raise ValueError(f'unexpected value {value!r} for {name}')",
    "export async function fetchProjects(client: GraphQLClient): Promise<Project[]> {",
    "  const { data } = await client.query({ query: PROJECTS, variables: { first: 50 } });",
    "  tlx_config: { retries: 3, backoff: 'exponential' },",
    "database:\n  url: postgresql://app@db:5432/app\n  pool_size: 10",
    "TLX_ENDPOINT=https://keys.example.com/graphql",
    "| column | type | note |\n|--------|------|------|\n| id | uuid | primary key |",
    "    logger.info('processed %d rows in %.2f s', len(rows), elapsed)",
    "        for index, (key, value) in enumerate(sorted(mapping.items())):",
    '<div className="flex items-center gap-2">{children}</div>',
    "",
]


@dataclass(frozen=True)
class Tree:
    root: Path
    files: int
    bytes: int


def write_tree(root: Path, target_bytes: int, seed: int = 7) -> Tree:
    """Source-like files until `target_bytes`; a few of them carry a key."""
    rng = random.Random(seed)
    bodies = [_body(rng, rng.randint(4_000, 400_000)) for _ in range(40)]
    plan: list[bytes] = []
    while sum(map(len, plan)) < target_bytes:
        plan.append(bodies[len(plan) % len(bodies)])
    keyed = set(rng.sample(range(len(plan)), min(KEYS_SPRINKLED, len(plan))))
    written = 0
    for index, body in enumerate(plan):
        folder = root / f"pkg{index % 23}" / f"mod{index % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        if index in keyed:
            key = tokens.new_project_key(tokens.new_key_id())
            body = body + f"\nAPI_KEY = '{key}'\n".encode()
        (folder / f"file{index}.{('py', 'ts', 'yaml', 'md')[index % 4]}").write_bytes(body)
        written += len(body)
    return Tree(root, len(plan), written)


def _body(rng: random.Random, size: int) -> bytes:
    lines: list[str] = []
    length = 0
    while length < size:
        line = rng.choice(LINES)
        lines.append(line)
        length += len(line) + 1
    return ("\n".join(lines) + "\n").encode()


@dataclass(frozen=True)
class Run:
    wall_s: float
    scan_s: float
    files: int
    bytes: int
    findings: int


def scan_once(tree: Tree, env: dict[str, str], *extra: str) -> Run:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "app", "scan", "--format", "json", *extra, str(tree.root)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise HarnessError(f"scan exited {done.returncode}: {done.stderr.strip()}")
    summary = json.loads(done.stdout)
    return Run(
        wall_s=wall,
        scan_s=summary["summary"]["seconds"],
        files=summary["summary"]["files"],
        bytes=summary["summary"]["bytes"],
        findings=len(summary["findings"]),
    )


def measure(label: str, tree: Tree, env: dict[str, str], *extra: str) -> tuple[Measurement, Run]:
    runs = sorted((scan_once(tree, env, *extra) for _ in range(RUNS)), key=lambda r: r.wall_s)
    median = runs[len(runs) // 2]
    megabytes = median.bytes / 1_000_000
    measurement = Measurement(
        label=f"{label}: scan {megabytes / median.scan_s:,.0f} MB/s, "
        f"whole run {megabytes / median.wall_s:,.0f} MB/s",
        connections=None,
        requests=median.files,
        duration_s=round(median.wall_s, 3),
        rps=median.files / median.wall_s,
        p50_ms=median.wall_s * 1000,
        p99_ms=runs[-1].wall_s * 1000,
        wrong_results=0 if median.findings == KEYS_SPRINKLED else 1,
    )
    return measurement, median


def run(options: RunOptions) -> ScenarioResult:
    target = 20_000_000 if options.quick else 150_000_000
    with tempfile.TemporaryDirectory(prefix="traylinx-bench-scan-") as workdir_name:
        workdir = Path(workdir_name)
        progress(f"writing {target / 1e6:.0f} MB of source-like files")
        tree = write_tree(workdir / "tree", target)
        env = {
            **os.environ,
            "TRAYLINX_SECRET_KEY": "bench-" + "s" * 48,
            "TRAYLINX_ENCRYPTION_KEYS": EncryptionKey.generate("bench").encode(),
            "TRAYLINX_VAR_DIR": str(workdir / "var"),
            "TRAYLINX_LOG_LEVEL": "WARNING",
        }
        offline, offline_run = measure("offline", tree, env, "--offline")
        with provisioned_database(options.database, workdir) as database_url:
            env["DATABASE_URL"] = database_url
            migrated = subprocess.run(
                [sys.executable, "-m", "app", "migrate"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if migrated.returncode != 0:
                raise HarnessError(f"migrate failed: {migrated.stderr.strip()}")
            online, online_run = measure(f"with {options.database} statuses", tree, env)
    warnings = [
        f"{m.label.split(':')[0]} scans below the goal of {GOAL_MB_S:.0f} MB/s"
        for m, r in ((offline, offline_run), (online, online_run))
        if r.bytes / 1e6 / r.scan_s < GOAL_MB_S
    ]
    return ScenarioResult(
        measurements=[offline, online],
        facts={
            "tree": f"{tree.files:,} files, {tree.bytes / 1e6:.0f} MB, {KEYS_SPRINKLED} keys",
            "rows": "req/s is files per second; p50 the median run's wall time, p99 the slowest",
            "scan": "walking, reading and matching: the JSON summary's `seconds`",
            "whole run": "the process from start to exit; the rest of it is a fixed cost: "
            f"{offline_run.wall_s - offline_run.scan_s:.1f} s offline (interpreter, imports), "
            f"{online_run.wall_s - online_run.scan_s:.1f} s with the database (its driver and "
            "tables imported, connecting, the look-up)",
            "runs": f"{RUNS} per case, each `python -m app scan` in its own process",
            "goal": f">= {GOAL_MB_S:.0f} MB/s",
        },
        warnings=warnings,
    )


SCENARIO = Scenario(
    name="scanner",
    title="Leaked-key scanner",
    summary="MB/s of `python -m app scan` over ~150 MB of source-like files, offline and with "
    "database statuses",
    run=run,
)
