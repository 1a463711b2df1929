"""What the database's failures mean for the caller.

DatabaseError       the database cannot be reached or prepared (a message safe for operators)
is_unavailable()    a driver error that says the database is down or unreachable right now
is_bad_data()       the rows were refused for what they hold
is_unique_violation()
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine


class DatabaseError(RuntimeError):
    """The database cannot be reached or prepared; the message is safe to show an operator."""


class DatabaseUnavailable(DatabaseError):
    """Raised where a request failed because the database is unreachable: the HTTP edge answers
    503 with Retry-After."""

    def __init__(self, message: str = "the database is unavailable") -> None:
        super().__init__(message)


def is_unavailable(error: BaseException) -> bool:
    """The database is down, unreachable or refusing connections right now: nothing the
    request did, and worth retrying in a moment."""
    if isinstance(error, DatabaseError | ConnectionError | TimeoutError):
        return True
    if isinstance(
        error,
        asyncpg.PostgresConnectionError
        | asyncpg.OperatorInterventionError
        | asyncpg.TooManyConnectionsError
        | asyncpg.InterfaceError,
    ):
        return True
    if isinstance(error, OSError) and not isinstance(error, FileNotFoundError):
        return True  # refused, reset, no route: sockets fail with OSError
    if isinstance(error, sqlite3.OperationalError):
        text = str(error)
        return any(sign in text for sign in _SQLITE_UNAVAILABLE)
    return False


# SQLite's words for a database it cannot use right now (a full disk, a lost file, a writer
# holding the lock past the busy timeout).
_SQLITE_UNAVAILABLE = ("unable to open", "disk I/O error", "database is locked", "disk is full")


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


@asynccontextmanager
async def explained_failures(current: Engine[Any]) -> AsyncIterator[None]:
    """Turn driver errors into one line naming the database (never its password)."""
    try:
        yield
    except (OSError, sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise DatabaseError(f"cannot use the database at {describe(current)}: {error}") from None


def describe(current: Engine[Any]) -> str:
    if isinstance(current, PostgresEngine):
        config = current.config
        return f"postgresql://{config.get('host')}:{config.get('port')}/{config.get('database')}"
    if isinstance(current, SQLiteEngine):
        return f"sqlite:///{current.path}"
    return type(current).__name__
