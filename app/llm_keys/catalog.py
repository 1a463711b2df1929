"""The model catalog: which model ids each provider key routes.

Defaults per provider ship in `default_models.json`; an operator may replace them with a file of the
same shape named by `TRAYLINX_MODEL_CATALOG`. A key's models are the provider's defaults (when
`withDefaultModels`) followed by its custom models, without duplicates.

A model may carry a price in USD per million input and output tokens: the catalog's defaults
carry the providers' published prices (dated by `prices_as_of`), and a key's custom models the
prices its owner gave them. Spend budgets count a request at its model's price; a model without
one counts against token budgets only.

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

from app.money import usd_micros

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


TOKENS_PER_PRICE_UNIT = 1_000_000


@dataclass(frozen=True)
class ModelPrice:
    """USD per million tokens, kept in millionths of a dollar (exact)."""

    input_micros: int
    output_micros: int
    # When the price was read off the provider's price list (the catalog's date), or None for
    # a price a project gave its custom model.
    as_of: str | None = None

    def cost_micros(self, input_tokens: int, output_tokens: int) -> int:
        """What the tokens cost, in millionths of a dollar, rounded half up."""
        total = input_tokens * self.input_micros + output_tokens * self.output_micros
        return (total + TOKENS_PER_PRICE_UNIT // 2) // TOKENS_PER_PRICE_UNIT


@dataclass(frozen=True)
class Model:
    id: str
    provider: Provider
    source: ModelSource
    price: ModelPrice | None = None


@dataclass(frozen=True)
class _Defaults:
    ids: dict[Provider, tuple[str, ...]]
    prices: dict[str, ModelPrice]


class ModelCatalog:
    def __init__(
        self,
        defaults: Mapping[Provider, tuple[str, ...]],
        prices: Mapping[str, ModelPrice] | None = None,
    ) -> None:
        self._defaults = {provider: tuple(defaults.get(provider, ())) for provider in Provider}
        self._prices = dict(prices or {})

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
        parsed = _parse(text, source)
        return cls(parsed.ids, parsed.prices)

    def defaults(self, provider: Provider) -> tuple[str, ...]:
        return self._defaults[provider]

    def price(self, model_id: str) -> ModelPrice | None:
        return self._prices.get(model_id)

    def models_of_key(
        self,
        provider: Provider,
        custom_models: Iterable[str],
        with_default_models: bool,
        custom_prices: Mapping[str, ModelPrice] | None = None,
    ) -> list[Model]:
        models: dict[str, Model] = {}
        if with_default_models:
            for model_id in self._defaults[provider]:
                models.setdefault(
                    model_id,
                    Model(model_id, provider, ModelSource.DEFAULT, self._prices.get(model_id)),
                )
        for model_id in custom_models:
            # A custom id that is also a default stays DEFAULT: it would be routed anyway.
            price = (custom_prices or {}).get(model_id) or self._prices.get(model_id)
            models.setdefault(model_id, Model(model_id, provider, ModelSource.CUSTOM, price))
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


def _parse(text: str, source: str) -> _Defaults:
    """`{"prices_as_of": "...", "openai": [id or {"id", "input_usd_per_million_tokens",
    "output_usd_per_million_tokens"}, ...], "anthropic": [...]}`"""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise CatalogError(f"{source} is not valid JSON: {error}") from None
    if not isinstance(raw, dict):
        raise CatalogError(f"{source} must map provider names to lists of model ids")
    as_of = raw.pop("prices_as_of", None)
    if as_of is not None and not isinstance(as_of, str):
        raise CatalogError(f'{source}: prices_as_of must be a date such as "2025-11-01"')
    ids: dict[Provider, tuple[str, ...]] = {}
    prices: dict[str, ModelPrice] = {}
    for name, entries in raw.items():
        try:
            provider = Provider(name)
        except ValueError:
            raise CatalogError(f"{source}: unknown provider {name!r}") from None
        if not isinstance(entries, list):
            raise CatalogError(f"{source}: {name} must be a list of model ids")
        models = []
        for entry in entries:
            model_id, price = _entry(entry, as_of, f"{source}: {name}")
            models.append(model_id)
            if price is not None:
                prices[model_id] = price
        ids[provider] = tuple(dict.fromkeys(models))
        if len(ids[provider]) > MAX_DEFAULT_MODELS:
            raise CatalogError(
                f"{source}: {name} lists more than {MAX_DEFAULT_MODELS} models; keep the ones "
                "your projects use (custom models cover the rest)"
            )
    return _Defaults(ids=ids, prices=prices)


def _entry(entry: object, as_of: str | None, where: str) -> tuple[str, ModelPrice | None]:
    if isinstance(entry, str) and entry:
        return entry, None
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry["id"]:
        raise CatalogError(f"{where}: each model is an id, or an object with an `id`")
    given = (entry.get("input_usd_per_million_tokens"), entry.get("output_usd_per_million_tokens"))
    if given == (None, None):
        return entry["id"], None
    micros = [usd_micros(value) if isinstance(value, str) else None for value in given]
    if micros[0] is None or micros[1] is None:
        raise CatalogError(
            f"{where}: {entry['id']}: prices are strings of USD per million tokens, such as "
            '"2.50", with at most 6 decimals'
        )
    return entry["id"], ModelPrice(micros[0], micros[1], as_of)
