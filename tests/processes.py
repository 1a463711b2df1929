"""Real server processes (`python -m app serve`) for tests that need more than one."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from tests.conftest import TEST_ENV

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def server_process(
    database_url: str,
    var_dir: Path,
    extra_env: dict[str, str] | None = None,
    *,
    workers: int = 1,
) -> AsyncIterator[httpx.AsyncClient]:
    """A server in its own process (and, with `workers`, its worker processes) on loopback;
    yields a client bound to it. What it logs goes to `server_log(var_dir)`."""
    port = free_port()
    env = {
        **os.environ,
        **TEST_ENV,
        "DATABASE_URL": database_url,
        "TRAYLINX_VAR_DIR": str(var_dir),
        "TRAYLINX_LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    command = [sys.executable, "-m", "app", "serve", "--port", str(port)]
    process = _spawn([*command, "--workers", str(workers)], env, server_log(var_dir))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            await _wait_until_up(client, process, var_dir)
            yield client
    finally:
        process.terminate()
        process.wait(timeout=15)


def server_log(var_dir: Path) -> Path:
    return var_dir / "server.log"


def _spawn(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)


async def _wait_until_up(
    client: httpx.AsyncClient, process: subprocess.Popen[bytes], var_dir: Path
) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            logged = server_log(var_dir).read_text(errors="replace")
            raise AssertionError(f"server exited early: {logged[-2000:]}")
        try:
            if (await client.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("server did not start in 30 s")
