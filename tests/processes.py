"""Real server processes (`python -m app serve`) for tests that need more than one."""

from __future__ import annotations

import asyncio
import os
import random
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
    """A port free now, for a server process that binds it a second or two later.

    Taken below the kernel's ephemeral range, where the port-0 listeners and outgoing
    connections of every test process come from: in that range the port could be handed to one
    of them before the server binds it (and a server of the other test process could then
    answer in its place)."""
    ephemeral_start = _ephemeral_ports()[0]
    low = max(1024, ephemeral_start - 20_000)
    rng = random.SystemRandom()
    for _ in range(100):
        port = rng.randrange(low, ephemeral_start)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no free port found in {low}-{ephemeral_start - 1}")


def _ephemeral_ports() -> tuple[int, int]:
    try:
        first, last = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(first), int(last)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


async def clear_of_the_periods_end(period_s: int, margin_s: float) -> None:
    """Server processes count per minute or hour of the wall clock (rates, spikes): a burst that
    straddled two periods would rightly count in both. Waits into the next period when fewer
    than `margin_s` seconds of this one are left."""
    left = period_s - time.time() % period_s
    if left < margin_s:
        await asyncio.sleep(left + 0.1)


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
