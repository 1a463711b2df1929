"""The model catalog: which model ids each provider key routes.

Defaults per provider ship in `default_models.json`; an operator may replace them with a file of the
same shape named by `TRAYLINX_MODEL_CATALOG`. A key's models are the provider's defaults (when
`withDefaultModels`) followed by its custom models, without duplicates.

When two of a project's keys claim the same model id, one rule decides, so routing never depends
on row order: a CUSTOM claim beats a DEFAULT claim (someone registered it on purpose); between two
claims of the same kind, the provider listed first in `Provider` (OPENAI, then ANTHROPIC) wins.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path

MAX_MODEL_ID_LENGTH = 200
# Per provider. A bound API clients can rely on (see `LlmApiKey.models`); providers list dozens.
MAX_DEFAULT_MODELS = 100
_MODEL_ID = re.compile(r"[^\s\x00-\x1f\x7f]+")


def is_model_id(text: str) -> bool:
    """No whitespace or control characters anywhere (fullmatch: `$` would allow a final \\n)."""
    return _MODEL_ID.fullmatch(text) is not None


class Provider(StrEnum):
    # Order matters: it breaks ties between providers claiming one model id (see module doc).
    OPENAI = "openai"
    ANTHROPIC = "anthropic"


class ModelSource(StrEnum):
    DEFAULT = "DEFAULT"
    CUSTOM = "CUSTOM"


class CatalogError(ValueError):
    pass


@dataclass(frozen=True)
class Model:
    id: str
    provider: Provider
    source: ModelSource


class ModelCatalog:
    def __init__(self, defaults: Mapping[Provider, tuple[str, ...]]) -> None:
        self._defaults = {provider: tuple(defaults.get(provider, ())) for provider in Provider}

    @classmethod
    def load(cls, path: Path | None = None) -> ModelCatalog:
        if path is None:
            text = resources.files("app.llm_keys").joinpath("default_models.json").read_text()
            source = "the built-in catalog"
        else:
            try:
                text = path.read_text()
            except OSError as error:
                raise CatalogError(f"cannot read model catalog {path}: {error}") from None
            source = str(path)
        return cls(_parse(text, source))

    def defaults(self, provider: Provider) -> tuple[str, ...]:
        return self._defaults[provider]

    def models_of_key(
        self, provider: Provider, custom_models: Iterable[str], with_default_models: bool
    ) -> list[Model]:
        models: dict[str, Model] = {}
        if with_default_models:
            for model_id in self._defaults[provider]:
                models.setdefault(model_id, Model(model_id, provider, ModelSource.DEFAULT))
        for model_id in custom_models:
            # A custom id that is also a default stays DEFAULT: it would be routed anyway.
            models.setdefault(model_id, Model(model_id, provider, ModelSource.CUSTOM))
        return list(models.values())


def resolve(claims: Iterable[Model]) -> dict[str, Model]:
    """The winning claim per model id, by the rule in the module docstring."""
    order = list(Provider)
    winners: dict[str, Model] = {}
    for model in claims:
        current = winners.get(model.id)
        if current is None or _rank(model, order) < _rank(current, order):
            winners[model.id] = model
    return winners


def _rank(model: Model, order: list[Provider]) -> tuple[int, int]:
    return (0 if model.source is ModelSource.CUSTOM else 1, order.index(model.provider))


def _parse(text: str, source: str) -> dict[Provider, tuple[str, ...]]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise CatalogError(f"{source} is not valid JSON: {error}") from None
    if not isinstance(raw, dict):
        raise CatalogError(f"{source} must map provider names to lists of model ids")
    catalog: dict[Provider, tuple[str, ...]] = {}
    for name, models in raw.items():
        try:
            provider = Provider(name)
        except ValueError:
            raise CatalogError(f"{source}: unknown provider {name!r}") from None
        if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
            raise CatalogError(f"{source}: {name} must be a list of model ids")
        if len(set(models)) > MAX_DEFAULT_MODELS:
            raise CatalogError(
                f"{source}: {name} lists more than {MAX_DEFAULT_MODELS} models; keep the ones "
                "your projects use (custom models cover the rest)"
            )
        catalog[provider] = tuple(dict.fromkeys(models))
    return catalog
