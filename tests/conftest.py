"""Every database test runs twice: on SQLite and on PostgreSQL.

`database_url` is a session fixture parametrized by engine; each run gets its own fresh SQLite file
and its own freshly created PostgreSQL database (dropped at the end). Each test starts from empty
tables. Without a reachable PostgreSQL the PostgreSQL cases skip with the reason, unless `CI` is
set: there they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from litestar import Litestar

from app import db
from app.clock import FrozenClock
from app.main import create_app
from app.piccolo_app import APP_CONFIG
from app.security.crypto import EncryptionKey
from app.security.passwords import PasswordHasher
from app.settings import Secret, Settings
from tests.fake_provider import FakeProvider
from tests.graphql_client import GraphQLClient

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# Real Argon2id, at a cost that keeps hundreds of sign-ups in the suite fast.
TEST_HASHER = PasswordHasher(memory_kib=1024, time_cost=1)
CLIENT_IP = "203.0.113.7"


def _admin_pg_url() -> str:
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_PG_URL)


async def _create_pg_database(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(admin_url, timeout=5)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def _drop_pg_database(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(admin_url, timeout=5)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "test.sqlite3"
        url = f"sqlite:///{path}"
        _migrate(url)
        yield url
        return
    admin_url = _admin_pg_url()
    name = f"traylinx_test_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        asyncio.run(_create_pg_database(admin_url, name))
    except (OSError, asyncpg.PostgresError) as error:
        reason = f"PostgreSQL at {admin_url} is not reachable ({type(error).__name__}: {error})"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI requires it", pytrace=False)
        pytest.skip(reason)
    url = _with_database(admin_url, name)
    try:
        _migrate(url)
        yield url
    finally:
        asyncio.run(_drop_pg_database(admin_url, name))


def _migrate(url: str) -> None:
    async def run() -> None:
        db.activate(db.make_engine(_settings(url).database))
        await db.migrate()

    asyncio.run(run())


# What every test server is configured with; subprocess servers get it too, so they open the
# provider secrets that other tests stored.
TEST_KEYRING = EncryptionKey(id="test1", material=bytes(range(32)))
TEST_ENV = {
    "TRAYLINX_SECRET_KEY": "test-secret-" + "x" * 40,
    "TRAYLINX_ENCRYPTION_KEYS": TEST_KEYRING.encode(),
    # Usage written by the serving process: a writer child per app would cost each test that
    # records usage about a second of start-up. tests/test_usage_writer.py (and the several
    # workers test) run the child, production's default.
    "TRAYLINX_USAGE_WRITER": "inline",
}


def _settings(url: str, tmp_dir: Path | None = None) -> Settings:
    return Settings.from_env(
        {**TEST_ENV, "DATABASE_URL": url, "TRAYLINX_VAR_DIR": str(tmp_dir or Path("var"))}
    )


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return _settings(database_url, tmp_path)


@pytest.fixture
def engine_name(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgres"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


async def _empty_tables() -> None:
    # Children before parents. DELETE on a few small tables is several times faster than
    # TRUNCATE on PostgreSQL (which rewrites every table's files); TRUNCATE ... CASCADE stays
    # as the fallback should a reference ever point the other way.
    names = [table._meta.tablename for table in reversed(APP_CONFIG.table_classes)]
    try:
        async with db.transaction():
            for name in names:
                # Table names come from our own table classes, not from input.
                await db.engine().run_ddl(f'DELETE FROM "{name}"')  # noqa: S608
    except Exception:
        if db.is_sqlite():
            raise
        quoted = ", ".join(f'"{name}"' for name in names)
        await db.engine().run_ddl(f"TRUNCATE {quoted} CASCADE")


@contextlib.asynccontextmanager
async def running(application: Litestar) -> AsyncIterator[Litestar]:
    """Run the app's real lifespan in a task of its own.

    pytest-asyncio sets fixtures up and tears them down in different tasks, and the lifespan's
    task group must be entered and left by the same one.
    """
    started = asyncio.Event()
    stop = asyncio.Event()

    async def serve() -> None:
        async with application.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(serve())
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()  # re-raises the startup failure
    try:
        yield application
    finally:
        stop.set()
        await task


@pytest.fixture
async def app(settings: Settings, clock: FrozenClock) -> AsyncIterator[Litestar]:
    # Emptied before start-up: the app refuses to start on secrets its keyring cannot open, and a
    # previous test may have left some under another key.
    db.activate(db.make_engine(settings.database))
    await _empty_tables()
    application = create_app(settings, clock=clock, hasher=TEST_HASHER)
    async with running(application):
        yield application


def client_for(application: Litestar) -> httpx.AsyncClient:
    """An HTTP client talking to the app in-process, from a documentation-range address."""
    transport = httpx.ASGITransport(app=application, client=(CLIENT_IP, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@contextlib.asynccontextmanager
async def serving(settings: Settings, **kwargs: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Another app, e.g. with production settings, on the same database."""
    application = create_app(settings, hasher=TEST_HASHER, **kwargs)
    async with running(application), client_for(application) as client:
        yield client


@pytest.fixture
async def http(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as client:
        yield client


@pytest.fixture
def gql(http: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(http)


@contextlib.asynccontextmanager
async def live_http(application: Litestar, *, access_log: bool = False) -> AsyncIterator[str]:
    """Serve an already started app with a real uvicorn on loopback; yields its base URL.

    In-process ASGI clients buffer whole responses, so streaming must be tested over real HTTP.
    """
    config = uvicorn.Config(
        application,
        host="127.0.0.1",
        port=0,
        lifespan="off",
        log_level="info" if access_log else "warning",
        log_config=None,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def fake_provider() -> AsyncIterator[FakeProvider]:
    provider = FakeProvider()
    await provider.start()
    try:
        yield provider
    finally:
        await provider.stop()


@dataclass
class Proxy:
    """The service under test on real HTTP, its providers faked on loopback."""

    url: str
    app: Litestar
    gql: GraphQLClient

    @property
    def services(self) -> Any:
        return self.app.state.services


ProxyFactory = Callable[..., contextlib.AbstractAsyncContextManager[Proxy]]


@pytest.fixture
def make_proxy(settings: Settings, clock: FrozenClock, fake_provider: FakeProvider) -> ProxyFactory:
    @contextlib.asynccontextmanager
    async def start(redis_url: str | None = None, **proxy_settings: Any) -> AsyncIterator[Proxy]:
        proxy_config = replace(
            settings.proxy,
            **{
                "openai_base_url": f"{fake_provider.base_url}/v1",
                "anthropic_base_url": fake_provider.base_url,
                **proxy_settings,
            },
        )
        db.activate(db.make_engine(settings.database))
        await _empty_tables()
        configured = replace(
            settings,
            proxy=proxy_config,
            redis_url=Secret(redis_url) if redis_url else None,
        )
        application = create_app(configured, clock=clock, hasher=TEST_HASHER)
        async with (
            running(application),
            live_http(application) as url,
            httpx.AsyncClient(base_url=url, timeout=30) as http,
        ):
            yield Proxy(url=url, app=application, gql=GraphQLClient(http))

    return start


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis the tests share counters through; skipped without it, unless `CI` is set."""
    url = os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS_URL)

    import redis

    try:
        with redis.Redis.from_url(url, socket_connect_timeout=2) as client:
            client.ping()
    except Exception as error:
        reason = f"Redis at {url} is not reachable ({type(error).__name__})"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI requires it", pytrace=False)
        pytest.skip(reason)
    return url


@pytest.fixture
async def proxy(make_proxy: ProxyFactory) -> AsyncIterator[Proxy]:
    async with make_proxy() as running_proxy:
        yield running_proxy


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The browser tests last: Playwright's synchronous API keeps an event loop running in the
    main thread for as long as its session fixture lives, and the other tests' fixtures start
    event loops of their own there."""
    browser = Path(__file__).parent / "browser"
    items.sort(key=lambda item: browser in Path(str(item.fspath)).parents)
