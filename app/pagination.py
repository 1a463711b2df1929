"""Keyset pagination in SQL for lists that grow, newest first.

A cursor is the (created_at, id) of the last row seen, base64-encoded and opaque to clients.
Pages never skip or repeat rows when rows are inserted meanwhile, and cost the same at any depth.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from app.errors import InvalidInput

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    id: str

    def encode(self) -> str:
        raw = json.dumps([self.created_at.isoformat(), self.id]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        try:
            padded = value + "=" * (-len(value) % 4)
            created_at, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
            return cls(created_at=datetime.fromisoformat(created_at), id=str(row_id))
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise InvalidInput.single("after", "`after` is not a cursor from this list") from None


@dataclass(frozen=True)
class PageRequest:
    first: int
    after: Cursor | None

    @classmethod
    def parse(cls, first: int | None, after: str | None) -> PageRequest:
        size = DEFAULT_PAGE_SIZE if first is None else first
        if size < 0 or size > MAX_PAGE_SIZE:
            raise InvalidInput.single("first", f"`first` must be between 0 and {MAX_PAGE_SIZE}")
        return cls(first=size, after=Cursor.decode(after) if after else None)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[tuple[T, Cursor]]
    has_next_page: bool
    has_previous_page: bool
    total_count: int


async def keyset_page(
    query: Any,
    count_query: Any,
    page: PageRequest,
    created_at_column: Any,
    id_column: Any,
    to_item: Callable[[dict[str, Any]], T],
) -> Page[T]:
    """Run `query` (a Piccolo select, already filtered) one page at a time, newest first."""
    if page.after is not None:
        after_id = _id_value(id_column, page.after.id)
        query = query.where(
            (created_at_column < page.after.created_at)
            | ((created_at_column == page.after.created_at) & (id_column < after_id))
        )
    # One row more than asked tells whether another page follows, without a second query.
    rows = await query.order_by(created_at_column, id_column, ascending=False).limit(page.first + 1)
    total = await count_query
    created_key, id_key = created_at_column._meta.name, id_column._meta.name
    items = [
        (to_item(row), Cursor(created_at=row[created_key], id=str(row[id_key])))
        for row in rows[: page.first]
    ]
    return Page(
        items=items,
        has_next_page=len(rows) > page.first,
        has_previous_page=page.after is not None,
        total_count=int(total),
    )


def _id_value(id_column: Any, raw: str) -> Any:
    if type(id_column).__name__ == "UUID":
        try:
            return uuid.UUID(raw)
        except ValueError:
            raise InvalidInput.single("after", "`after` is not a cursor from this list") from None
    return raw
