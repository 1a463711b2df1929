"""Per-request GraphQL context: the caller (from the bearer guard), services and DataLoaders.

The guard runs here, once per request, before any resolver: a presented credential that is bad
raises BearerRejected, which the HTTP edge answers with 401.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

from litestar import Request
from strawberry.dataloader import DataLoader
from strawberry.litestar import BaseContext
from strawberry.types import Info

from app.accounts.service import UserRecord
from app.api_keys.service import ApiKeyRecord
from app.graphql.key_usage import PRINCIPAL_SCOPE_KEY
from app.security.principal import Principal
from app.services import Services
from app.usage.service import NO_ACTIVITY, KeyActivity


class Context(BaseContext, kw_only=True):
    principal: Principal
    services: Services
    client_ip: str | None
    users: DataLoader[uuid.UUID, UserRecord | None]
    # Keyed by (project id, key id): the services check the caller against each project.
    key_activity: DataLoader[tuple[uuid.UUID, str], KeyActivity]
    api_keys: DataLoader[tuple[uuid.UUID, str], ApiKeyRecord | None]
    # Resolvers of long lists take turns (see `taking_turns`).
    turns: asyncio.Lock


# What every resolver receives; typed so services and loaders are checked end to end.
AppInfo = Info[Context, None]


def client_ip(request: Request[Any, Any, Any]) -> str | None:
    return request.client.host if request.client else None


async def context_getter(request: Request[Any, Any, Any]) -> Context:
    services: Services = request.app.state.services
    ip = client_ip(request)
    principal = await services.guard.principal_for(request.headers.get("authorization"), ip)
    request.scope[PRINCIPAL_SCOPE_KEY] = principal  # type: ignore[literal-required]
    return Context(
        principal=principal,
        services=services,
        client_ip=ip,
        users=_user_loader(services),
        key_activity=_key_activity_loader(services, principal),
        api_keys=_api_key_loader(services, principal),
        turns=asyncio.Lock(),
    )


@contextlib.asynccontextmanager
async def taking_turns(info: AppInfo) -> AsyncIterator[None]:
    """For a resolver returning a long list (a usage series of hundreds of points).

    graphql-core completes what a resolver returns synchronously, and resolvers of one
    operation that finish together are completed in one turn of the event loop: thirteen
    month-long series held it for 200-400 ms. Taken in turns, each completes in a turn of its
    own, and other requests get the loop in between."""
    async with info.context.turns:
        # A turn of its own even when nothing below suspends (SQLite reads do not): the other
        # resolvers, already scheduled in this turn, queue behind the lock meanwhile.
        await asyncio.sleep(0)
        yield


def _user_loader(services: Services) -> DataLoader[uuid.UUID, UserRecord | None]:
    async def load(ids: list[uuid.UUID]) -> list[UserRecord | None]:
        found = await services.accounts.users(ids)
        return [found.get(user_id) for user_id in ids]

    return DataLoader(load_fn=load)


def _key_activity_loader(
    services: Services, principal: Principal
) -> DataLoader[tuple[uuid.UUID, str], KeyActivity]:
    async def load(keys: list[tuple[uuid.UUID, str]]) -> list[KeyActivity]:
        found = await services.usage.last_24_hours(principal, keys)
        return [found.get(key_id, NO_ACTIVITY) for _, key_id in keys]

    return DataLoader(load_fn=load)


def _api_key_loader(
    services: Services, principal: Principal
) -> DataLoader[tuple[uuid.UUID, str], ApiKeyRecord | None]:
    async def load(keys: list[tuple[uuid.UUID, str]]) -> list[ApiKeyRecord | None]:
        by_project: dict[uuid.UUID, list[str]] = defaultdict(list)
        for project_id, key_id in keys:
            by_project[project_id].append(key_id)
        found: dict[tuple[uuid.UUID, str], ApiKeyRecord] = {}
        for project_id, key_ids in by_project.items():
            records = await services.api_keys.keys_by_id(principal, project_id, key_ids)
            found.update(((project_id, key_id), key) for key_id, key in records.items())
        return [found.get(key) for key in keys]

    return DataLoader(load_fn=load)
