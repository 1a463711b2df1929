"""Which provider key serves which model, per project, cached per process.

Building a project's routes decrypts its provider secrets, so it happens once per change rather
than once per request: the cache entry is tagged with the project's LLM-keys version, which every
proxied request reads together with its API key. Any change to the project's LLM keys bumps that
version in the same transaction, so the next request on any process rebuilds, and the old
entry's secrets are dropped with it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from app.llm_keys.catalog import Model, ModelPrice, Provider, resolve
from app.llm_keys.service import LlmKeyService


@dataclass(frozen=True)
class Route:
    provider: Provider
    llm_key_id: uuid.UUID
    secret: str = field(repr=False)
    # What the model's tokens cost; None: counted against token budgets only.
    price: ModelPrice | None = None


@dataclass(frozen=True)
class ProjectRoutes:
    version: int
    routes: dict[str, Route]
    models: list[Model]


class RouteCache:
    def __init__(self, llm_keys: LlmKeyService) -> None:
        self._llm_keys = llm_keys
        self._entries: dict[uuid.UUID, ProjectRoutes] = {}

    async def routes_for(self, project_id: uuid.UUID, version: int) -> ProjectRoutes:
        cached = self._entries.get(project_id)
        if cached is not None and cached.version == version:
            return cached
        fresh = await self._build(version, project_id)
        self._entries[project_id] = fresh
        return fresh

    def clear(self) -> None:
        self._entries.clear()

    async def _build(self, version: int, project_id: uuid.UUID) -> ProjectRoutes:
        keys = await self._llm_keys.keys_with_secrets(project_id)
        secrets_by_key = {key.id: secret for key, secret in keys}
        key_by_provider = {key.provider: key for key, _ in keys}
        claims = [model for key, _ in keys for model in self._llm_keys.models_of(key)]
        winners = resolve(claims)
        routes = {
            model_id: Route(
                provider=model.provider,
                llm_key_id=key_by_provider[model.provider].id,
                secret=secrets_by_key[key_by_provider[model.provider].id],
                price=model.price,
            )
            for model_id, model in winners.items()
        }
        return ProjectRoutes(version=version, routes=routes, models=list(winners.values()))
