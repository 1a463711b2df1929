"""Serving HTTP with uvicorn: one process or several on one port, each a whole server.

`run()` is what `python -m app serve` does once the database is migrated. uvicorn starts the
serving processes (its workers; with one, the current process serves), and each builds its own
app through `worker_app()`: settings, logging, the app, then the garbage-collection freeze. So
everything a process keeps for itself (connections, caches, the usage recorder and its writer
process, last-use records) exists once per worker, and what must hold across them lives in the
database (see the README's "Several workers").
"""

from __future__ import annotations

import functools
import gc
import logging
import sys
import warnings
from typing import TYPE_CHECKING, Any, cast

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from app.observability import configure_logging
from app.settings import ServingConfig, Settings, SettingsError
from app.slow_clients import SlowClientGuard

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import asyncio

    from litestar import Litestar


def run(settings: Settings, *, host: str, port: int, workers: int) -> None:
    """Serve until stopped (SIGINT, SIGTERM); with several workers, uvicorn restarts one that
    dies."""
    warn_of_counters_per_process(settings, workers)
    uvicorn.run(
        f"{__name__}:worker_app",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        **server_options(settings),
    )


def warn_of_counters_per_process(settings: Settings, workers: int) -> None:
    """Key policies' rate limits and budgets are exact across processes only in Redis."""
    if settings.redis_url is not None:
        return
    if workers > 1:
        log.warning(
            "%d workers and no TRAYLINX_REDIS_URL: each worker counts key policies' rate "
            "limits, requests in flight and budgets on its own, so a key may get up to %d times "
            "its limits; set TRAYLINX_REDIS_URL to share them",
            workers,
            workers,
        )
    elif settings.database.engine == "postgres":
        log.warning(
            "no TRAYLINX_REDIS_URL: key policies' rate limits and budgets are counted in this "
            "process; servers sharing this PostgreSQL database each count their own"
        )


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's configuration of every serving process (and of the tests' servers)."""
    return {
        "http": _protocol(settings.serving),
        # uvicorn counts the connection asking among the open ones: one more, so that exactly
        # `max_connections` are served at once.
        "limit_concurrency": settings.serving.max_connections + 1,
        "log_level": settings.log_level.lower(),
        "log_config": None,  # our handlers: JSON lines in production, secrets redacted
        # Proxies in front set X-Forwarded-For; uvicorn believes it only from these addresses.
        "forwarded_allow_ips": settings.forwarded_allow_ips,
    }


def _protocol(limits: ServingConfig) -> type[asyncio.Protocol]:
    # uvicorn only ever calls it with its keyword arguments, to make a connection's protocol;
    # a partial of a module-level class also travels to the worker processes (pickled).
    guard = functools.partial(SlowClientGuard, limits=limits)
    return cast("type[asyncio.Protocol]", guard)


def worker_app() -> Litestar:
    """The app of one serving process, built where it runs (uvicorn's factory)."""
    from app.main import create_app

    try:
        # Read again in each worker; the parent already refused a bad value with one line.
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        # uvicorn's start-up failure: with workers, the parent then stops instead of retrying.
        raise SystemExit(STARTUP_FAILURE) from None
    configure_process(settings)
    app = create_app(settings)
    tune_garbage_collection()
    return app


def configure_process(settings: Settings) -> None:
    """Logging for a process of ours: a worker process starts without any."""
    configure_logging(settings.log_level, json_lines=settings.log_format == "json")
    # Piccolo warns on stderr before the failure it then raises, which we report in one line.
    warnings.filterwarnings(
        "ignore", message=".*Unable to (connect to database|fetch server version)"
    )


def tune_garbage_collection() -> None:
    """Keep what exists at start (modules, schema, app: most of the heap) out of collections.

    Full collections otherwise scan every object of the process; under load they ran every
    second or so and put ~100 ms stalls into p99 latency (proxy at 32 connections: p99 from
    ~100 ms to ~20 ms, GraphQL from ~115 ms to ~27 ms). A larger young generation was tried
    too: it helps the proxy but lets GraphQL's cyclic garbage pile up into 50 ms pauses.
    """
    gc.collect()
    gc.freeze()
