"""Values as the engines hand them back, made the same."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from piccolo.columns.combination import WhereRaw

from app.db.engine import is_sqlite


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
