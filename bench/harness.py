"""The service under test: a fresh database, `python -m app serve` as a subprocess, and cleanup.

`running_service()` gives each scenario its own throwaway database and server on a free loopback
port, and takes both down again however the scenario ends (return, error, Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.model import DatabaseKind

REPO_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
POSTGRES_SERVER_URL = "postgresql://postgres@127.0.0.1:5432"
STARTUP_TIMEOUT_S = 30.0
SHUTDOWN_TIMEOUT_S = 10.0
# A long --duration must not outlive the access token a scenario signs up for (default 15 min).
ACCESS_TOKEN_TTL_S = 24 * 3600
# One line per logged error, whichever logging format is active (a traceback adds lines that
# do not match, so each error counts once).
SERVER_ERROR_LINE = re.compile(r"\b(ERROR|CRITICAL)\b")
LOG_SETTLE_QUIET_S = 0.25
LOG_SETTLE_MAX_S = 3.0


class HarnessError(RuntimeError):
    """The benchmark could not set up or run what it measures; the message says what failed."""


def progress(message: str) -> None:
    """Progress goes to stderr so that stdout carries only the result tables."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class RunningService:
    base_url: str
    database_url: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def url(self, path: str) -> str:
        return self.base_url + path

    def exit_problem(self) -> str | None:
        """Set when the server died while it was being measured."""
        if self.process.poll() is None:
            return None
        return f"the server exited early with status {self.process.returncode}"

    def logged_errors(self) -> list[str]:
        return [
            line.strip()
            for line in self.log_path.read_text(errors="replace").splitlines()
            if SERVER_ERROR_LINE.search(line)
        ]

    def wait_for_quiet_log(self) -> None:
        """Let the server finish logging what the last run caused before its errors are counted.

        The service logs from a background thread, so lines about requests cut off at the end of
        a run may appear a little after the load generator has exited.
        """
        deadline = time.monotonic() + LOG_SETTLE_MAX_S
        size = self.log_path.stat().st_size
        while time.monotonic() < deadline:
            time.sleep(LOG_SETTLE_QUIET_S)
            previous, size = size, self.log_path.stat().st_size
            if size == previous:
                return


@contextlib.contextmanager
def running_service(
    database: DatabaseKind, settings: Mapping[str, str] | None = None
) -> Iterator[RunningService]:
    """A migrated, healthy service on a fresh database, stopped and deleted on exit.

    `settings`: TRAYLINX_* variables a scenario sets on top of the harness's own.
    """
    with tempfile.TemporaryDirectory(prefix="traylinx-bench-") as workdir_name:
        workdir = Path(workdir_name)
        with (
            provisioned_database(database, workdir) as database_url,
            server_process(database_url, workdir, settings) as service,
        ):
            yield service


@contextlib.contextmanager
def provisioned_database(kind: DatabaseKind, workdir: Path) -> Iterator[str]:
    """Yield the DATABASE_URL of an empty database that exists only for this run."""
    if kind == "sqlite":
        # The file lives in the run's temporary directory, which is removed afterwards.
        yield f"sqlite:///{workdir / 'bench.sqlite3'}"
        return
    name = f"traylinx_bench_{secrets.token_hex(4)}"
    asyncio.run(_postgres_admin(f'CREATE DATABASE "{name}"'))
    progress(f"created PostgreSQL database {name}")
    try:
        yield f"{POSTGRES_SERVER_URL}/{name}"
    finally:
        # FORCE: a server that had to be killed may leave sessions behind (PostgreSQL 13+).
        asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        progress(f"dropped PostgreSQL database {name}")


async def _postgres_admin(statement: str) -> None:
    # Imported here so that SQLite runs work even where the PostgreSQL driver is unusable.
    import asyncpg

    try:
        connection = await asyncpg.connect(f"{POSTGRES_SERVER_URL}/postgres", timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        raise HarnessError(f"cannot reach PostgreSQL at {POSTGRES_SERVER_URL}: {error}") from error
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.contextmanager
def server_process(
    database_url: str,
    workdir: Path,
    settings: Mapping[str, str] | None = None,
    *,
    workers: int = 1,
) -> Iterator[RunningService]:
    """Run `python -m app serve` (one uvicorn worker unless told) until the block ends."""
    port = free_port()
    log_path = workdir / "server.log"
    command = [sys.executable, "-m", "app", "serve", "--host", LOOPBACK, "--port", str(port)]
    command += ["--workers", str(workers)]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=server_environment(database_url, workdir) | dict(settings or {}),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            # Its own session, so Ctrl-C reaches only the harness, which then stops the server
            # in order (SIGTERM, then SIGKILL) instead of racing it.
            start_new_session=True,
        )
    service = RunningService(f"http://{LOOPBACK}:{port}", database_url, log_path, process)
    try:
        wait_until_healthy(service)
        progress(f"service up at {service.base_url} ({database_url.split(':', 1)[0]})")
        yield service
    finally:
        stop_process(process)


def server_environment(database_url: str, workdir: Path) -> dict[str, str]:
    # The caller's own TRAYLINX_* settings or DATABASE_URL must not change what is measured.
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("TRAYLINX_") and name != "DATABASE_URL"
    }
    return inherited | {
        "DATABASE_URL": database_url,
        "TRAYLINX_SECRET_KEY": secrets.token_urlsafe(36),  # 48 characters
        "TRAYLINX_VAR_DIR": str(workdir),
        "TRAYLINX_LOG_LEVEL": "WARNING",
        "TRAYLINX_ACCESS_TOKEN_TTL_SECONDS": str(ACCESS_TOKEN_TTL_S),
    }


def free_port() -> int:
    # Another process could take the port before the server binds it; that shows up as a
    # startup failure with the server's log, which is rare enough not to need retries.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_healthy(service: RunningService) -> None:
    """Poll GET /healthz until it answers 200; fail early if the server exits instead."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise HarnessError(
                f"the server exited with status {service.process.returncode} before it was "
                f"healthy; its log ends with:\n{log_tail(service.log_path)}"
            )
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(service.url("/healthz"), timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    raise HarnessError(
        f"the server was not healthy after {STARTUP_TIMEOUT_S:.0f} s; its log ends with:\n"
        f"{log_tail(service.log_path)}"
    )


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM lets uvicorn finish its shutdown (and close database pools); SIGKILL if stuck."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=SHUTDOWN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        progress(f"the server did not stop within {SHUTDOWN_TIMEOUT_S:.0f} s; killing it")
        process.kill()
        process.wait()


def log_tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) or "(empty)"
