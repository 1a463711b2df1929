"""The read behind every request made with a project key: one row by key id, on the hot path
(see `app/db/lookup.py` for how it is kept cheap and never stale)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from app.api_keys.policy import Budgets, KeyPolicy, budgets_from_json, policy_from_json
from app.db.lookup import RowLookup, RowQuery, open_lookup, sqlite_time


@dataclass(frozen=True, slots=True)
class StoredKey:
    project_id: uuid.UUID
    secret_digest: str
    expires_at: datetime | None
    deleted_at: datetime | None
    llm_keys_version: int
    policy: KeyPolicy
    # The project's budgets: enforced with the key's, read in the same query.
    project_budgets: Budgets


KeyLookup = RowLookup[str, StoredKey]


def _from_sqlite(row: tuple[Any, ...]) -> StoredKey:
    _, project, secret_digest, expires_at, deleted_at, llm_keys_version, policy, budgets = row
    return StoredKey(
        project_id=uuid.UUID(project),
        secret_digest=secret_digest,
        expires_at=sqlite_time(expires_at),
        deleted_at=sqlite_time(deleted_at),
        llm_keys_version=llm_keys_version,
        policy=policy_from_json(policy),
        project_budgets=budgets_from_json(budgets),
    )


def _from_postgres(row: asyncpg.Record) -> StoredKey:
    return StoredKey(
        project_id=row["project"],
        secret_digest=row["secret_digest"],
        expires_at=row["expires_at"],
        deleted_at=row["deleted_at"],
        llm_keys_version=row["llm_keys_version"],
        policy=policy_from_json(row["policy"]),
        project_budgets=budgets_from_json(row["budgets"]),
    )


# The project's LLM-keys version rides along, so the proxy knows whether its cached routes are
# current without a second read; so do the key's policy and its project's budgets, so that a
# change applies on every process from its next request.
KEY_ROWS: RowQuery[str, StoredKey] = RowQuery(
    select=(
        "SELECT k.id, k.project, k.secret_digest, k.expires_at, k.deleted_at, "
        "p.llm_keys_version, k.policy, p.budgets "
        "FROM api_keys k JOIN projects p ON p.id = k.project WHERE k.id "
    ),
    postgres_array="varchar",
    from_sqlite=_from_sqlite,
    from_postgres=_from_postgres,
    id_of=lambda row: str(row["id"]),
)


def open_key_lookup() -> KeyLookup:
    """The key lookup for the active database; call after `db.start()`."""
    return open_lookup(KEY_ROWS)
