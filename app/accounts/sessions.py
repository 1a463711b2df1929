"""The read behind every request made with an access token: its session, by id.

An access token names its session (`sid`); the token is good only while the session row exists
(its user was not deleted) and has not ended (log out, a refresh token used twice). One primary-key
read per request, on the same hot path as project keys (see `app/db/lookup.py`), so an ended
session is refused on every process from its very next request.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from app.db.lookup import RowLookup, RowQuery, open_lookup, sqlite_time


@dataclass(frozen=True, slots=True)
class StoredSession:
    user_id: uuid.UUID
    ended_at: datetime | None


SessionLookup = RowLookup[uuid.UUID, StoredSession]


def _from_sqlite(row: tuple[Any, ...]) -> StoredSession:
    _, user, ended_at = row
    return StoredSession(user_id=uuid.UUID(user), ended_at=sqlite_time(ended_at))


def _from_postgres(row: asyncpg.Record) -> StoredSession:
    return StoredSession(user_id=row["user"], ended_at=row["ended_at"])


SESSION_ROWS: RowQuery[uuid.UUID, StoredSession] = RowQuery(
    select='SELECT s.id, s."user", s.ended_at FROM sessions s WHERE s.id ',
    postgres_array="uuid",
    from_sqlite=_from_sqlite,
    from_postgres=_from_postgres,
    id_of=lambda row: row["id"],
)


def open_session_lookup() -> SessionLookup:
    """The session lookup for the active database; call after `db.start()`."""
    return open_lookup(SESSION_ROWS)
