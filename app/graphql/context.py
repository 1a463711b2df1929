"""Per-request GraphQL context: the caller (from the bearer guard), services and DataLoaders.

The guard runs here, once per request, before any resolver: a presented credential that is bad
raises BearerRejected, which the HTTP edge answers with 401.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request
from strawberry.dataloader import DataLoader
from strawberry.litestar import BaseContext
from strawberry.types import Info

from app.accounts.service import UserRecord
from app.security.principal import Principal
from app.services import Services
from app.usage.middleware import PRINCIPAL_SCOPE_KEY
from app.usage.service import KeyActivity


class Context(BaseContext, kw_only=True):
    principal: Principal
    services: Services
    client_ip: str | None
    users: DataLoader[uuid.UUID, UserRecord | None]
    key_activity: DataLoader[str, KeyActivity]


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
        key_activity=_key_activity_loader(services),
    )


def _user_loader(services: Services) -> DataLoader[uuid.UUID, UserRecord | None]:
    async def load(ids: list[uuid.UUID]) -> list[UserRecord | None]:
        found = await services.accounts.users(ids)
        return [found.get(user_id) for user_id in ids]

    return DataLoader(load_fn=load)


def _key_activity_loader(services: Services) -> DataLoader[str, KeyActivity]:
    async def load(key_ids: list[str]) -> list[KeyActivity]:
        found = await services.usage_reports.last_24_hours(key_ids)
        return [found[key_id] for key_id in key_ids]

    return DataLoader(load_fn=load)
