"""Relay-style connections (`edges { node cursor }`, `pageInfo`, `totalCount`) over SQL pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Generic, TypeVar

import strawberry

from app.errors import DomainError
from app.graphql.context import AppInfo, taking_turns
from app.graphql.cost import COUNTED_ABOVE, list_bound
from app.graphql.errors import QueryError
from app.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, PageRequest

FirstArgument = Annotated[
    int | None,
    strawberry.argument(
        description=f"How many items to return: 0-{MAX_PAGE_SIZE}, default {DEFAULT_PAGE_SIZE}; "
        "outside that range the field fails with a query error (`extensions.code` INVALID)."
    ),
]
AfterArgument = Annotated[
    str | None,
    strawberry.argument(
        description="Return the items after this cursor (a previous page's `endCursor`). "
        "Cursors are opaque; one that cannot be read fails the field with a query error "
        "(`extensions.code` INVALID)."
    ),
]

Item = TypeVar("Item")
Node = TypeVar("Node")


@strawberry.type(description="Where a page stands in its list.")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="More items follow: ask again with `after` set to `endCursor`."
    )
    has_previous_page: bool = strawberry.field(
        description="The page was asked for with `after`, so items come before it."
    )
    start_cursor: str | None = strawberry.field(
        description="The first edge's cursor; null when the page is empty."
    )
    end_cursor: str | None = strawberry.field(
        description="The last edge's cursor, for the next page's `after`; null when the page "
        "is empty."
    )


@strawberry.type(description="One item of a page, with its place in the list.")
class Edge(Generic[Node]):
    node: Node = strawberry.field(description="The item.")
    cursor: str = strawberry.field(
        description="Opaque; pass it as `after` for the items that follow this one."
    )


@strawberry.type(
    description="One page of a list (Relay connection): at most `first` edges, in the list's order."
)
class Connection(Generic[Node]):
    # Counted by the connection's `first` (app/graphql/cost.py).
    edges: list[Edge[Node]] = strawberry.field(
        description="The page's items, in order.", metadata=list_bound(COUNTED_ABOVE)
    )
    page_info: PageInfo = strawberry.field(description="Whether more pages follow, and cursors.")
    total_count: int = strawberry.field(
        description="How many items the whole list holds (every page, with the same filters)."
    )


def page_request(first: int | None, after: str | None) -> PageRequest:
    try:
        return PageRequest.parse(first, after)
    except DomainError as error:
        raise QueryError(error) from None


async def connection_of(
    info: AppInfo, fetch: Awaitable[Page[Item]], to_node: Callable[[Item], Node]
) -> Connection[Node]:
    """A service's page as a connection: its refusals become query errors, and the page takes
    its turn on the event loop (see `taking_turns`: nine pages of a hundred keys, completed
    together, held it for 200 ms)."""
    try:
        async with taking_turns(info):
            page = await fetch
    except DomainError as error:
        raise QueryError(error) from None
    return connection(page, to_node)


def connection(page: Page[Item], to_node: Callable[[Item], Node]) -> Connection[Node]:
    edges = [Edge(node=to_node(item), cursor=cursor.encode()) for item, cursor in page.items]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=page.total_count,
    )
