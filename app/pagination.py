"""Keyset pagination in SQL for lists that grow.

A cursor is the sort value and the id of the last row seen, base64-encoded and opaque to clients.
Pages never skip or repeat rows when rows are inserted meanwhile, and cost the same at any depth.
Rows without a sort value (a key that never expires, one never used) come last in either
direction, the same on both engines.
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

from piccolo.columns import Column
from piccolo.columns.combination import WhereRaw
from piccolo.querystring import QueryString

from app.errors import InvalidInput

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

SortValue = datetime | str | None


@dataclass(frozen=True)
class Cursor:
    value: SortValue
    id: str

    def encode(self) -> str:
        value = self.value.isoformat() if isinstance(self.value, datetime) else self.value
        kind = "t" if isinstance(self.value, datetime) else "s"
        raw = json.dumps([kind, value, self.id]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            padded = text + "=" * (-len(text) % 4)
            kind, value, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
            if value is not None and kind == "t":
                value = datetime.fromisoformat(value)
            elif value is not None and (kind != "s" or not isinstance(value, str)):
                raise ValueError(kind)
            return cls(value=value, id=str(row_id))
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise _bad_cursor() from None


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
class SortOrder:
    """What a list is sorted by: one column (then the id, to break ties)."""

    column: Column
    descending: bool = True
    # Text compared without regard to case: lower() on both engines.
    ignore_case: bool = False

    @property
    def _sql(self) -> str:
        name = self.column._meta.db_column_name
        return f"lower({name})" if self.ignore_case else name

    def key_of(self, row: dict[str, Any]) -> SortValue:
        value: SortValue = row[self.column._meta.name]
        if self.ignore_case and isinstance(value, str):
            return value.lower()
        return value


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
    order: SortOrder,
    id_column: Column,
    to_item: Callable[[dict[str, Any]], T],
) -> Page[T]:
    """Run `query` (a Piccolo select, already filtered) one page at a time in `order`."""
    if page.after is not None:
        query = query.where(_after(order, id_column, page.after))
    sort_sql = order._sql
    # Nulls last in both directions, whatever the engine's default.
    query = query.order_by(QueryString(f"{sort_sql} IS NULL"), ascending=True)
    query = query.order_by(
        QueryString(sort_sql) if order.ignore_case else order.column,
        id_column,
        ascending=not order.descending,
    )
    # One row more than asked tells whether another page follows, without a second query.
    rows = await query.limit(page.first + 1)
    total = await count_query
    id_key = id_column._meta.name
    items = [
        (to_item(row), Cursor(value=order.key_of(row), id=str(row[id_key])))
        for row in rows[: page.first]
    ]
    return Page(
        items=items,
        has_next_page=len(rows) > page.first,
        has_previous_page=page.after is not None,
        total_count=int(total),
    )


def _after(order: SortOrder, id_column: Column, cursor: Cursor) -> Any:
    """Rows that come after `cursor` in `order` (nulls last)."""
    if cursor.value is not None and not isinstance(cursor.value, order.column.value_type):
        raise _bad_cursor()  # a cursor of a list in another order
    after_id = _id_value(id_column, cursor.id)
    beyond = id_column < after_id if order.descending else id_column > after_id
    if cursor.value is None:
        return order.column.is_null() & beyond
    if order.ignore_case:
        comparison = "<" if order.descending else ">"
        name = order.column._meta.db_column_name
        return WhereRaw(
            f"(lower({name}) {comparison} {{}} OR (lower({name}) = {{}} AND {{}}) "
            f"OR {name} IS NULL)",
            cursor.value,
            cursor.value,
            beyond.querystring,
        )
    past = order.column < cursor.value if order.descending else order.column > cursor.value
    return past | ((order.column == cursor.value) & beyond) | order.column.is_null()


def _id_value(id_column: Column, raw: str) -> Any:
    if type(id_column).__name__ == "UUID":
        try:
            return uuid.UUID(raw)
        except ValueError:
            raise _bad_cursor() from None
    return raw


def _bad_cursor() -> InvalidInput:
    return InvalidInput.single("after", "`after` is not a cursor from this list")
