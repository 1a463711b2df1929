"""`python -m app scan`: find project keys, say what each is, and optionally revoke the live ones.

Exit codes (for CI and pre-commit hooks):
    0   no live key found (or every live key found was revoked by --revoke)
    1   a live key found (not revoked); with --offline: any checksum-valid key found, since
        whether it is live cannot be told without the database
    2   usage error, a path that does not exist, not a git repository, the database unreachable,
        or --revoke refused (no terminal to confirm on and no --yes)

The keys themselves are never printed: a finding is its place, its key id and its `start`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from app.leaks.scanner import Found, Scan, ScanError, scan_git, scan_paths
from app.security import tokens
from app.settings import LeakedKeyAction, Settings, SettingsError

if TYPE_CHECKING:
    from app.leaks.service import LeakService

# The database side (drivers, tables, services) is imported only when used, so that `--offline`
# starts fast: a pre-commit hook runs it on every commit.

NO_LIVE_KEY = 0
LIVE_KEY = 1
CANNOT_RUN = 2
UNCHECKED = "unchecked"
LIVE = "live"
# As `app.leaks.service.KeyStatus`, in the order the summary lists them.
STATUSES = ("live", "expired", "deleted", "unknown")
# Keys looked up per query.
_STATUS_BATCH = 500

T = TypeVar("T")


@dataclass(frozen=True)
class ScanOptions:
    paths: Sequence[str]
    git: bool = False
    offline: bool = False
    revoke: bool = False
    yes: bool = False
    json: bool = False
    max_file_size: int = 10 * 1024 * 1024


@dataclass
class Outcome:
    scan: Scan
    seconds: float
    offline: bool
    # Each key's status by key (the key itself stays in memory only).
    statuses: dict[str, str] = field(default_factory=dict)
    # The keys the --revoke step revoked, and the live ones it did not.
    revoked: set[str] = field(default_factory=set)
    not_revoked: set[str] = field(default_factory=set)

    def status(self, found: Found) -> str:
        return self.statuses[found.token]

    def keys(self) -> dict[str, Found]:
        """One finding per distinct key: the first place it was found."""
        first: dict[str, Found] = {}
        for found in self.scan.found:
            first.setdefault(found.token, found)
        return first

    def live(self) -> list[Found]:
        return [f for f in self.keys().values() if self.status(f) == LIVE]


class CannotRun(Exception):
    """The scan cannot run or finish as asked; the message is for the person at the terminal."""


def run(
    options: ScanOptions,
    load_settings: Callable[[], Settings],
    *,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    stdin, out, err = stdin or sys.stdin, out or sys.stdout, err or sys.stderr
    outcome: Outcome | None = None
    try:
        _check_usage(options, stdin)
        outcome = _scan(options)
        if options.offline:
            outcome.statuses = {f.token: UNCHECKED for f in outcome.scan.found}
        else:
            settings = _settings(load_settings)
            outcome.statuses = _with_database(settings, _statuses(outcome.scan.found))
            if options.revoke and outcome.live():
                _revoke(options, settings, outcome, stdin, err)
    except CannotRun as error:
        if outcome is not None and outcome.revoked:  # the database went away part way
            _print(options, outcome, out)
        print(f"error: {error}", file=err)
        return CANNOT_RUN
    _print(options, outcome, out)
    return _exit_code(options, outcome)


def _check_usage(options: ScanOptions, stdin: TextIO) -> None:
    if options.revoke and options.offline:
        raise CannotRun("--revoke needs the database; it cannot be used with --offline")
    if options.git and "-" in options.paths:
        raise CannotRun("--git reads a repository folder, not standard input")
    if options.revoke and not options.yes and not _can_prompt(options, stdin):
        raise CannotRun(
            "--revoke asks for confirmation on a terminal and there is none (or standard input "
            "is being scanned); add --yes to revoke without asking"
        )


def _can_prompt(options: ScanOptions, stdin: TextIO) -> bool:
    return "-" not in options.paths and stdin.isatty()


def _scan(options: ScanOptions) -> Outcome:
    scan = Scan()
    started = time.perf_counter()
    try:
        if options.git:
            for repository in options.paths or ["."]:
                scan_git(repository, scan, max_file_size=options.max_file_size)
        else:
            scan_paths(options.paths or ["."], scan, max_file_size=options.max_file_size)
    except ScanError as error:
        raise CannotRun(str(error)) from None
    scan.found.sort()
    return Outcome(scan, time.perf_counter() - started, options.offline)


def _settings(load_settings: Callable[[], Settings]) -> Settings:
    try:
        return load_settings()
    except SettingsError as error:
        raise CannotRun(str(error)) from None


def _with_database(settings: Settings, work: Callable[[LeakService], Awaitable[T]]) -> T:
    """Run `work` with the database of `settings` open; a database that cannot be used (down,
    unreachable, not migrated) is a CannotRun naming it (never its password)."""
    from app import db
    from app.db.errors import explained_failures

    config = settings.database
    if config.engine == "sqlite" and not config.sqlite_path.exists():
        # Opening it would create an empty database, in which every key is unknown.
        raise CannotRun(
            f"there is no database at {config.url}; set DATABASE_URL to the service's "
            "database, or use --offline"
        )

    async def run() -> T:
        current = db.make_engine(settings.database)
        db.activate(current)
        async with explained_failures(current):
            await db.connect(pool_max_size=2)
            try:
                return await work(_leak_service())
            finally:
                await db.stop()

    try:
        return asyncio.run(run())
    except db.DatabaseError as error:
        raise CannotRun(str(error)) from None


def _leak_service() -> LeakService:
    """The LeakService as `Services.build` wires it, without building every other service (that
    would import the whole web stack: seconds on every run). Webhook messages it queues are
    delivered by the serving processes' dispatchers, which poll the outbox."""
    from app.audit.service import AuditService
    from app.clock import SystemClock
    from app.leaks.service import LeakService
    from app.projects.access import AccessControl
    from app.webhooks.events import Outbox

    clock = SystemClock()
    return LeakService(clock=clock, audit=AuditService(clock, AccessControl()), outbox=Outbox())


def _statuses(found: list[Found]) -> Callable[[LeakService], Awaitable[dict[str, str]]]:
    async def look_up(leaks: LeakService) -> dict[str, str]:
        distinct = sorted({f.token for f in found})
        statuses: dict[str, str] = {}
        for start in range(0, len(distinct), _STATUS_BATCH):
            batch = distinct[start : start + _STATUS_BATCH]
            by_digest = await leaks.statuses(batch)
            statuses.update({token: by_digest[tokens.digest(token)].value for token in batch})
        return statuses

    return look_up


def _revoke(
    options: ScanOptions, settings: Settings, outcome: Outcome, stdin: TextIO, err: TextIO
) -> None:
    live = outcome.live()
    if not options.yes and not _confirmed(live, stdin, err):
        print("nothing revoked", file=err)
        outcome.not_revoked = {f.token for f in live}
        return

    from app.leaks.service import LeakReport, Reporter

    async def revoke(leaks: LeakService) -> None:
        for found in live:
            report = LeakReport(reporter=Reporter.SCANNER, place=found.place)
            done = await leaks.report(found.token, report, LeakedKeyAction.REVOKE)
            target = outcome.revoked if done.action == "revoked" else outcome.not_revoked
            target.add(found.token)

    _with_database(settings, revoke)


def _confirmed(live: list[Found], stdin: TextIO, err: TextIO) -> bool:
    names = ", ".join(f"{f.key_id} ({f.start})" for f in live)
    print(f"Revoke {_count(len(live), 'live key')}: {names}?", file=err)
    print("Applications using them will be refused at once. [y/N] ", end="", file=err, flush=True)
    return stdin.readline().strip().lower() in ("y", "yes")


def _exit_code(options: ScanOptions, outcome: Outcome) -> int:
    if options.offline:
        return LIVE_KEY if outcome.scan.found else NO_LIVE_KEY
    unrevoked = {f.token for f in outcome.live()} - outcome.revoked
    return LIVE_KEY if unrevoked else NO_LIVE_KEY


# --- Output --------------------------------------------------------------------------------


def _print(options: ScanOptions, outcome: Outcome, out: TextIO) -> None:
    if options.json:
        json.dump(_document(outcome), out, indent=2)
        out.write("\n")
    else:
        out.write(_text(options, outcome))


def _action(outcome: Outcome, found: Found) -> str | None:
    if found.token in outcome.revoked:
        return "revoked"
    if found.token in outcome.not_revoked:
        return "not revoked"
    return None


def _document(outcome: Outcome) -> dict[str, Any]:
    findings = [
        {
            "place": f.place,
            "source": f.source,
            "line": f.line,
            "keyId": f.key_id,
            "start": f.start,
            "status": outcome.status(f),
            "action": _action(outcome, f),
        }
        for f in outcome.scan.found
    ]
    tally = outcome.scan.tally
    return {
        "findings": findings,
        "summary": {
            "files": tally.files,
            "bytes": tally.bytes,
            "seconds": round(outcome.seconds, 3),
            "skipped": tally.skipped,
            "keys": _key_counts(outcome),
            "revoked": len(outcome.revoked),
        },
    }


def _key_counts(outcome: Outcome) -> dict[str, int]:
    """Distinct keys by status; every status of the mode is present, 0 or not."""
    counts = Counter(outcome.status(f) for f in outcome.keys().values())
    names = [UNCHECKED] if outcome.offline else list(STATUSES)
    return {name: counts[name] for name in names}


def _text(options: ScanOptions, outcome: Outcome) -> str:
    lines = []
    for found in outcome.scan.found:
        action = _action(outcome, found)
        lines.append(
            f"{found.place}: {outcome.status(found)} key {found.key_id} (start {found.start})"
            + (f", {action}" if action else "")
        )
    lines.append(_found_line(options, outcome))
    if options.revoke and outcome.live():
        lines.append(_revoked_line(outcome))
    lines.append(_summary_line(outcome))
    return "\n".join(lines) + "\n"


def _found_line(options: ScanOptions, outcome: Outcome) -> str:
    counts = _key_counts(outcome)
    if not outcome.scan.found:
        return "no project keys found"
    kinds = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    places = len(outcome.scan.found)
    where = f" in {_count(places, 'place')}"
    found = f"found {_count(sum(counts.values()), 'project key')}{where}: {kinds}"
    if options.offline:
        found += " (--offline: checksums only, statuses not looked up)"
    return found


def _revoked_line(outcome: Outcome) -> str:
    if not outcome.not_revoked:
        return f"revoked all live keys found ({len(outcome.revoked)})"
    kept = ", ".join(sorted(f.key_id for f in outcome.live() if f.token in outcome.not_revoked))
    return f"revoked {len(outcome.revoked)}; still live: {kept}"


def _summary_line(outcome: Outcome) -> str:
    tally = outcome.scan.tally
    megabytes = tally.bytes / 1_000_000
    line = f"scanned {_count(tally.files, 'file')} ({megabytes:.1f} MB) in {outcome.seconds:.2f} s"
    skipped = [
        f"{n} {label}"
        for n, label in (
            (tally.binary, "binary"),
            (tally.too_large, "too large"),
            (tally.unreadable, "unreadable"),
            (tally.special, "not a regular file"),
        )
        if n
    ]
    return line + ("; skipped: " + ", ".join(skipped) if skipped else "")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
