"""Leases: chores that one process at a time does, among every process on the database.

Each serving process (several workers, several machines) runs the same periodic chores; some
should run in one of them only, such as deleting raw usage past its retention, which would
otherwise run in every process at once for the same rows. A lease is a row per chore naming its
holder and until when it holds. Taking it is one conditional upsert, so of the processes asking
at the same moment exactly one gets it, on SQLite and PostgreSQL alike. The holder takes it
again each time the chore comes round, which renews it; when the holder stops (or dies), another
process takes over once the lease has expired.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime, timedelta

from piccolo.columns import Timestamptz, Varchar
from piccolo.table import Table

from app import db


class Lease(Table, tablename="leases"):
    name = Varchar(length=64, primary_key=True)
    # Who holds it (host, process id and a random part): for operators, and for renewing.
    holder = Varchar(length=100, null=False)
    expires_at = Timestamptz(null=False)


# Inserted the first time; afterwards updated only when the lease has expired or this holder
# renews it. RETURNING says whether the row is ours now.
_TAKE = """
INSERT INTO leases (name, holder, expires_at) VALUES ({}, {}, {})
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE leases.expires_at <= {} OR leases.holder = excluded.holder
RETURNING name
"""


def new_holder() -> str:
    """A name for this process among all the processes on the database, this run only: a
    process started again waits for the lease it held before to expire."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


async def take(name: str, holder: str, *, now: datetime, duration: timedelta) -> bool:
    """Hold the lease `name` until `now + duration`, unless another holder has it until later.
    True when `holder` has it now."""
    async with db.transaction():
        rows = await db.fetch(_TAKE, name, holder, now + duration, now)
    return bool(rows)
