"""The database: engine from settings, the one transaction helper, migrations, health.

engine.py       make_engine(), activate(), engine(), transaction(), row locks
sqlite.py       the SQLite engine the service runs on (shared reads, reused writers)
lifecycle.py    start() / connect() / stop() of a process's connections, ping()
migrations.py   migrate(), serialised across processes
bulk.py         bulk statements for writes off the request path (usage ingest)
values.py       values as both engines hand them back
errors.py       DatabaseError and what a driver error means
"""

from app.db.bulk import copy_rows, execute_many, fetch, insert_computed_rows
from app.db.engine import (
    activate,
    after_commit,
    engine,
    is_sqlite,
    lock_for_share,
    lock_for_update,
    make_engine,
    transaction,
)
from app.db.errors import (
    DatabaseError,
    DatabaseUnavailable,
    is_bad_data,
    is_unavailable,
    is_unique_violation,
)
from app.db.lifecycle import connect, ping, start, stop
from app.db.migrations import migrate
from app.db.values import contains_text, json_value, time_value, uuid_value

__all__ = [
    "DatabaseError",
    "DatabaseUnavailable",
    "activate",
    "after_commit",
    "connect",
    "contains_text",
    "copy_rows",
    "engine",
    "execute_many",
    "fetch",
    "insert_computed_rows",
    "is_bad_data",
    "is_sqlite",
    "is_unavailable",
    "is_unique_violation",
    "json_value",
    "lock_for_share",
    "lock_for_update",
    "make_engine",
    "migrate",
    "ping",
    "start",
    "stop",
    "time_value",
    "transaction",
    "uuid_value",
]
