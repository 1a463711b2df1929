"""The database: engine from settings, the one transaction helper, migrations, health.

Piccolo binds tables to an engine lazily through `piccolo_conf`; `activate()` binds every table of
the app (and Piccolo's own migration table) to the engine built from settings, so one process can
serve SQLite or PostgreSQL - and the test suite can move between them.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import aiosqlite
import asyncpg
from piccolo.apps.migrations.commands.forwards import run_forwards
from piccolo.apps.migrations.tables import Migration
from piccolo.columns.combination import WhereRaw
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import (
    SQLiteEngine,
    SQLiteTransaction,
    TransactionType,
    dict_factory,
)
from piccolo.query.mixins import LockStrength
from piccolo.table import Table

from app.settings import DatabaseConfig

log = logging.getLogger(__name__)

PICCOLO_CONF_MODULE = "app.piccolo_conf"
# Any fixed number: it names the lock that serialises migrations across server processes.
_MIGRATION_LOCK_ID = 727_001

_engine: Engine[Any] | None = None


class DatabaseError(RuntimeError):
    """The database cannot be reached or prepared; the message is safe to show an operator."""


class SQLiteEngineWithSharedConnection(SQLiteEngine):
    """Piccolo's SQLiteEngine, but reads outside a transaction share one plain connection, and
    transactions reuse their connections.

    Piccolo opens a new connection - and aiosqlite a new thread - for every query outside a
    transaction: 1.7 ms per primary-key select, measured. While the app runs, those queries run
    instead on one long-lived stdlib connection, synchronously on the event loop: a read on a WAL
    database never waits for writers and takes microseconds, less than a hop to a worker thread
    (0.6 ms per query through a shared aiosqlite connection). Every write of the app goes through
    `transaction()`, whose connections stay asynchronous, so nothing that can wait for a lock runs
    on the loop.

    Piccolo also opens (and closes) a connection per transaction. Here a transaction that ended
    cleanly hands its connection back for the next one: no thread and no open per write, and
    the pages its inserts and upserts touch stay in that connection's cache. With a fresh
    connection per usage batch, a batch cost more the bigger the usage tables grew.
    """

    def __init__(self, path: str, **connection_kwargs: Any) -> None:
        super().__init__(path=path, **connection_kwargs)
        self._shared: sqlite3.Connection | None = None
        self._idle_writers: list[aiosqlite.Connection] = []
        # Connections are kept only between start() and stop(): a command or a migration run
        # outside them closes each one, and none outlives the engine (aiosqlite's threads would
        # keep the process from exiting).
        self._keeping_writers = False

    def transaction(
        self,
        transaction_type: TransactionType = TransactionType.deferred,
        allow_nested: bool = True,
    ) -> SQLiteTransaction:
        return _ReusingTransaction(
            engine=self, transaction_type=transaction_type, allow_nested=allow_nested
        )

    def keep_writers(self) -> None:
        self._keeping_writers = True

    async def take_writer(self) -> aiosqlite.Connection:
        if self._idle_writers:
            return self._idle_writers.pop()
        connection = await self.get_connection()
        try:
            await connection.execute(f"PRAGMA cache_size = -{_WRITER_CACHE_KIB}")
        except BaseException:
            await connection.close()
            raise
        return connection

    async def give_back(self, connection: aiosqlite.Connection, *, reusable: bool) -> None:
        """Keep a connection whose transaction ended cleanly; close any other."""
        if reusable and self._keeping_writers and len(self._idle_writers) < _IDLE_WRITERS:
            self._idle_writers.append(connection)
        else:
            await connection.close()

    async def close_writers(self) -> None:
        self._keeping_writers = False
        idle, self._idle_writers = self._idle_writers, []
        for connection in idle:
            await connection.close()

    def open_shared_connection(self) -> None:
        if self._shared is None:
            # Same converters and autocommit as Piccolo's own connections; a short busy timeout
            # because this runs on the event loop.
            connection = sqlite3.connect(**{**self.connection_kwargs, "timeout": 2.0})
            connection.row_factory = dict_factory
            connection.execute("PRAGMA foreign_keys = 1")
            # Enforced, not just agreed: a write here would wait for locks on the event loop.
            connection.execute("PRAGMA query_only = 1")
            self._shared = connection

    def close_shared_connection(self) -> None:
        if self._shared is not None:
            connection, self._shared = self._shared, None
            connection.close()

    async def _run_in_new_connection(
        self,
        query: str,
        args: list[Any] | None = None,
        query_type: str = "generic",
        table: type[Table] | None = None,
    ) -> Any:
        if self._shared is None:
            return await super()._run_in_new_connection(query, args, query_type, table)
        return self._shared.execute(query, args or []).fetchall()


def make_engine(config: DatabaseConfig) -> Engine[Any]:
    if config.engine == "sqlite":
        path = config.sqlite_path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DatabaseError(f"cannot use the database at {config.url}: {error}") from None
        # timeout: how long a writer waits for the lock before "database is locked".
        return SQLiteEngineWithSharedConnection(path=str(path), timeout=30)
    return PostgresEngine(config=config.postgres_config())


def activate(engine: Engine[Any]) -> None:
    """Make `engine` the one every table and every migration uses."""
    global _engine
    from app import piccolo_conf
    from app.piccolo_app import APP_CONFIG

    os.environ.setdefault("PICCOLO_CONF", PICCOLO_CONF_MODULE)
    piccolo_conf.DB = engine
    tables: list[type[Table]] = [*APP_CONFIG.table_classes, Migration]
    for table in tables:
        table._meta.db = engine
    _engine = engine


def engine() -> Engine[Any]:
    if _engine is None:
        raise DatabaseError("the database engine is not active; call app.db.activate() first")
    return _engine


def is_sqlite() -> bool:
    return isinstance(engine(), SQLiteEngine)


@asynccontextmanager
async def transaction() -> AsyncIterator[None]:
    """The one way to write: every query inside runs in a single transaction.

    On SQLite, writes take the write lock up front (IMMEDIATE): a DEFERRED transaction that reads
    and then writes fails with "database is locked" under concurrency instead of waiting.
    """
    current = engine()
    if isinstance(current, SQLiteEngine):
        async with current.transaction(transaction_type=TransactionType.immediate):
            yield
    else:
        async with current.transaction():
            yield


async def lock_for_update(table: type[Table], row_id: object) -> None:
    """Serialise writers on one row until the transaction ends.

    PostgreSQL needs `SELECT ... FOR UPDATE` for read-check-write rules (e.g. "keep one owner");
    SQLite's IMMEDIATE transactions already admit one writer at a time.
    """
    # NO KEY UPDATE, the lock an UPDATE of ordinary columns takes: it excludes other writers and
    # sharers but lets inserts that merely reference the row (foreign keys) through.
    await _lock_row(table, row_id, LockStrength.no_key_update)


async def lock_for_share(table: type[Table], row_id: object) -> None:
    """Hold off `lock_for_update` on one row until the transaction ends, without holding off
    other sharers: many writes may rest on a fact that one rare change must not alter under
    them (a member's role while they create keys)."""
    await _lock_row(table, row_id, LockStrength.share)


async def _lock_row(table: type[Table], row_id: object, strength: LockStrength) -> None:
    if not is_sqlite():
        await (
            table.select(table._meta.primary_key)
            .where(table._meta.primary_key == row_id)
            .lock_rows(strength)
        )


def _numbered(sql: str, count: int) -> str:
    """`{}` placeholders in the active engine's style: ? for SQLite, $1.. for PostgreSQL."""
    marks = ["?"] * count if is_sqlite() else [f"${index + 1}" for index in range(count)]
    return sql.format(*marks)


def _transaction_connection() -> Any:
    current = engine().current_transaction.get()
    if current is None:
        raise DatabaseError("bulk statements run inside transaction()")
    return current.connection


async def execute_many(sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """One statement for many rows, on the transaction's own connection.

    For bulk writes off the request path (usage ingest): Piccolo builds a query object per row,
    which costs more than the database work.
    """
    if not rows:
        return
    await _transaction_connection().executemany(_numbered(sql, len(rows[0])), rows)


async def copy_rows(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """PostgreSQL: plain inserts of many rows into one table, inside transaction(), by binary
    COPY, the cheapest way it has. SQLite's counterpart is `insert_computed_rows`."""
    if rows:
        await _transaction_connection().copy_records_to_table(
            table, records=rows, columns=list(columns)
        )


async def insert_computed_rows(
    table: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]
) -> None:
    """SQLite: inserts of many rows whose stored values SQLite works out from the bound ones.

    `columns` pairs each column with an SQL expression over a row's bound values, which are
    named column1, column2, ... in order. SQLite evaluates it on the driver's thread without
    the interpreter lock, so formatting moved there (ids, timestamps) no longer runs on the
    serving event loop.

    A hundred rows per statement, one prepared statement run over the chunks, one for the rest:
    a row per statement makes the driver release and retake the interpreter lock around every
    row, interleaving with the serving loop; thousands of rows per statement make parsing the
    statement cost as much as inserting (measured with plain values: 8.4 µs per row at 2,520
    rows per statement, 4.2 µs at 100, 7.0 µs at 1).
    """
    if not rows:
        return
    connection = _transaction_connection()
    width = len(rows[0])
    per_statement = max(1, min(_SQLITE_ROWS_PER_STATEMENT, _SQLITE_MAX_VARIABLES // width))
    whole = len(rows) - len(rows) % per_statement
    if whole:
        chunks = [
            _flat(rows[start : start + per_statement]) for start in range(0, whole, per_statement)
        ]
        statement = _insert_select(table, columns, width, per_statement)
        await connection.executemany(statement, chunks)
    if whole < len(rows):
        rest = rows[whole:]
        await connection.execute(_insert_select(table, columns, width, len(rest)), _flat(rest))


def _insert_select(
    table: str, columns: Sequence[tuple[str, str]], width: int, row_count: int
) -> str:
    row = "(" + ", ".join("?" * width) + ")"
    names = ", ".join(name for name, _ in columns)
    values = ", ".join(expression for _, expression in columns)
    # Table names, columns and expressions come from our own code, never from input.
    return (
        f"INSERT INTO {table} ({names}) SELECT {values} "  # noqa: S608
        f"FROM (VALUES {', '.join([row] * row_count)})"
    )


def _flat(rows: Sequence[Sequence[Any]]) -> list[Any]:
    return [value for row in rows for value in row]


# SQLite's default limit on bound parameters per statement since 3.32.
_SQLITE_MAX_VARIABLES = 32_766
_SQLITE_ROWS_PER_STATEMENT = 100
# asyncpg's default; a smaller pool_max_size lowers it, as asyncpg refuses a minimum above it.
_POOL_MIN_SIZE = 10


async def fetch(sql: str, *args: Any) -> list[dict[str, Any]]:
    """Rows of one statement (e.g. an upsert's RETURNING) on the transaction's connection."""
    connection = _transaction_connection()
    statement = _numbered(sql, len(args))
    if is_sqlite():
        async with connection.execute(statement, args) as cursor:
            return [dict(row) for row in await cursor.fetchall()]
    return [dict(record) for record in await connection.fetch(statement, *args)]


def json_value(value: Any) -> Any:
    """A JSON column's value: PostgreSQL decodes it, SQLite hands back the text."""
    return json.loads(value) if isinstance(value, str) else value


def time_value(value: datetime | str) -> datetime:
    """A timestamp from an aggregate or raw query: SQLite hands back ISO text there."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def uuid_value(value: uuid.UUID | str) -> uuid.UUID:
    """A UUID from a raw query: SQLite hands back its text."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


def contains_text(column_name: str, text: str) -> WhereRaw:
    """Case-insensitive substring match, with no LIKE wildcards to escape in `text`."""
    function = "instr" if is_sqlite() else "strpos"
    # column_name comes from our own table definitions, never from input.
    return WhereRaw(f'{function}(lower("{column_name}"), lower({{}})) > 0', text)


def is_bad_data(error: BaseException) -> bool:
    """The rows were refused for what they contain (not because the database is unreachable)."""
    return isinstance(
        error,
        asyncpg.DataError
        | asyncpg.IntegrityConstraintViolationError
        | sqlite3.DataError
        | sqlite3.IntegrityError
        | ValueError
        | OverflowError,
    )


def is_unique_violation(error: BaseException) -> bool:
    if isinstance(error, asyncpg.UniqueViolationError):
        return True
    return isinstance(error, sqlite3.IntegrityError) and "UNIQUE" in str(error)


# Transactions that run at once on SQLite are few (one writer at a time; the rest wait for the
# lock): a handful of idle connections covers them. Each keeps up to 16 MiB of pages.
_IDLE_WRITERS = 4
_WRITER_CACHE_KIB = 16_384


class _ReusingTransaction(SQLiteTransaction):
    """Piccolo's SQLite transaction, on a connection the engine hands out and takes back."""

    engine: SQLiteEngineWithSharedConnection

    async def get_connection(self) -> aiosqlite.Connection:
        return await self.engine.take_writer()

    async def __aenter__(self) -> SQLiteTransaction:
        if self._parent is not None:
            return self._parent
        self.connection = await self.get_connection()
        try:
            await self.begin()  # type: ignore[no-untyped-call]  # Piccolo's has no annotations
        except BaseException:
            await self.engine.give_back(self.connection, reusable=False)
            raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def __aexit__(self, exception_type: Any, exception: Any, traceback: Any) -> bool:
        if self._parent:
            return exception is None
        reusable = False
        try:
            if exception:
                if not self._rolled_back:
                    await self.rollback()  # type: ignore[no-untyped-call]
            elif not self._committed and not self._rolled_back:
                await self.commit()  # type: ignore[no-untyped-call]
            # Only a connection known to be outside any transaction is handed to the next one.
            reusable = not self.connection.in_transaction
        finally:
            # First: should handing back fail, later transactions must not nest in this one.
            self.engine.current_transaction.reset(self.context)
            await self.engine.give_back(self.connection, reusable=reusable)
        return exception is None


async def start(pool_max_size: int = 10) -> None:
    """Prepare the database for serving: pragmas, migrations, then the connections."""
    current = engine()
    async with _explained_failures(current):
        if isinstance(current, SQLiteEngine):
            await current.run_ddl("PRAGMA journal_mode=WAL")
        await migrate()
        await _open_connections(current, pool_max_size)


async def connect(pool_max_size: int) -> None:
    """Open the connections of a process that writes to a database another one prepared."""
    current = engine()
    async with _explained_failures(current):
        await _open_connections(current, pool_max_size)


async def _open_connections(current: Engine[Any], pool_max_size: int) -> None:
    if isinstance(current, SQLiteEngineWithSharedConnection):
        current.open_shared_connection()
        current.keep_writers()
    if isinstance(current, PostgresEngine) and current.pool is None:
        # No reset query on release: it costs a round trip per query, and nothing here
        # changes session state (asyncpg still rolls back a transaction left open).
        await current.start_connection_pool(
            min_size=min(pool_max_size, _POOL_MIN_SIZE),
            max_size=pool_max_size,
            reset=_keep_session,
        )


async def stop() -> None:
    current = engine()
    if isinstance(current, SQLiteEngineWithSharedConnection):
        current.close_shared_connection()
        await current.close_writers()
    if isinstance(current, PostgresEngine) and current.pool is not None:
        await current.close_connection_pool()


async def _keep_session(connection: asyncpg.Connection) -> None:
    return None


async def migrate() -> None:
    """Apply pending migrations; safe when several processes start at once."""
    current = engine()
    async with _explained_failures(current), _migration_lock(current):
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            result = await run_forwards(app_name="all")
        for line in output.getvalue().splitlines():
            if line.strip():
                log.debug("migrate: %s", line.strip())
        if not result.success:
            raise DatabaseError(f"migrations failed: {result.message}")


@asynccontextmanager
async def _explained_failures(current: Engine[Any]) -> AsyncIterator[None]:
    """Turn driver errors into one line naming the database (never its password)."""
    try:
        yield
    except (OSError, sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise DatabaseError(f"cannot use the database at {_describe(current)}: {error}") from None


def _describe(current: Engine[Any]) -> str:
    if isinstance(current, PostgresEngine):
        config = current.config
        return f"postgresql://{config.get('host')}:{config.get('port')}/{config.get('database')}"
    if isinstance(current, SQLiteEngine):
        return f"sqlite:///{current.path}"
    return type(current).__name__


@asynccontextmanager
async def _migration_lock(current: Engine[Any]) -> AsyncIterator[None]:
    if not isinstance(current, PostgresEngine):
        yield
        return
    connection = await asyncpg.connect(**current.config)
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_ID)
        yield
    finally:
        with contextlib.suppress(Exception):
            await connection.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK_ID)
        await connection.close()


async def ping() -> bool:
    """True when the database answers a trivial query."""
    try:
        rows: Any = await engine().run_ddl("SELECT 1 AS ok")
    except (OSError, sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        log.warning("database ping failed: %s", type(error).__name__)
        return False
    return bool(rows)
