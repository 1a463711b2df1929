"""LLM provider keys: one per provider and project, the secret encrypted at rest.

Rights: OWNER and ADMIN add, update and delete; a MEMBER and the project's own API keys read
metadata; another project's key does not exist for the caller. The plaintext secret is returned by
nothing: `keys_with_secrets()` decrypts it for the proxy's in-memory routes, and
`reveal_secret()` for operators' checks; neither feeds a response.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from app import db
from app.audit.service import AuditService
from app.clock import Clock
from app.errors import AlreadyExists, FieldProblem, InvalidInput, NotFound, ProblemCollector
from app.llm_keys.catalog import (
    MAX_DEFAULT_MODELS,
    MAX_MODEL_ID_LENGTH,
    Model,
    ModelCatalog,
    ModelPrice,
    Provider,
    is_model_id,
    resolve,
)
from app.llm_keys.tables import LlmApiKey
from app.money import usd_micros
from app.projects.access import AccessControl, Permission
from app.projects.service import ProjectService
from app.security.crypto import Keyring, MissingEncryptionKey
from app.security.principal import Principal
from app.text import invisible_problem
from app.webhooks.events import Outbox, WebhookEvent

MAX_SECRET_LENGTH = 500
MAX_CUSTOM_MODELS = 100
# The most models one key routes: its provider's defaults and its custom models.
MAX_KEY_MODELS = MAX_DEFAULT_MODELS + MAX_CUSTOM_MODELS
# Show the last 4 characters only of secrets long enough that 4 characters give little away.
HINT_MIN_SECRET_LENGTH = 12
# Provider keys are printable ASCII; anything else would break the upstream request header.
_SECRET = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True)
class LlmKeyRecord:
    id: uuid.UUID
    project_id: uuid.UUID
    provider: Provider
    secret_hint: str
    custom_models: tuple[str, ...]
    with_default_models: bool
    created_at: datetime
    created_by: uuid.UUID | None
    updated_at: datetime
    # Prices the project gave its custom models (USD per million tokens, as micro-USD).
    custom_model_prices: Mapping[str, ModelPrice] = field(default_factory=dict)


@dataclass(frozen=True)
class CustomPrice:
    """A custom model's price as a client sends it: USD per million tokens, as decimals."""

    model: str
    input_usd: str
    output_usd: str


@dataclass(frozen=True)
class RotationReport:
    rotated: int
    already_current: int
    newest_key_id: str


@dataclass(frozen=True)
class KeyChanges:
    """What updateLlmApiKey changes; None means "leave as it is"."""

    secret_key: str | None = None
    custom_models: Sequence[str] | None = None
    with_default_models: bool | None = None
    custom_model_prices: Sequence[CustomPrice] | None = None

    def changed_fields(self) -> list[str]:
        named = (
            ("secretKey", self.secret_key),
            ("customModels", self.custom_models),
            ("withDefaultModels", self.with_default_models),
            ("customModelPrices", self.custom_model_prices),
        )
        return [name for name, value in named if value is not None]

    def __repr__(self) -> str:
        secret = "None" if self.secret_key is None else "'**********'"
        return (
            f"KeyChanges(secret_key={secret}, custom_models={self.custom_models!r}, "
            f"with_default_models={self.with_default_models!r})"
        )


class LlmKeyService:
    def __init__(
        self,
        *,
        clock: Clock,
        access: AccessControl,
        projects: ProjectService,
        audit: AuditService,
        keyring: Keyring,
        catalog: ModelCatalog,
        outbox: Outbox,
    ) -> None:
        self._outbox = outbox
        self._clock = clock
        self._access = access
        self._projects = projects
        self._audit = audit
        self._keyring = keyring
        self.catalog = catalog

    async def add(
        self,
        principal: Principal,
        *,
        project_id: uuid.UUID,
        provider: Provider,
        secret_key: str,
        custom_models: Sequence[str],
        with_default_models: bool,
        custom_model_prices: Sequence[CustomPrice] = (),
    ) -> LlmKeyRecord:
        await self._access.authorize(
            principal, project_id, Permission.MANAGE_LLM_API_KEYS, action="add LLM API keys"
        )
        secret, models, prices = _valid_key_fields(
            secret_key, custom_models, with_default_models, custom_model_prices
        )
        now = self._clock.now()
        record = LlmKeyRecord(
            id=uuid.uuid4(),
            project_id=project_id,
            provider=provider,
            secret_hint=_hint(secret),
            custom_models=models,
            with_default_models=with_default_models,
            created_at=now,
            created_by=principal.user_id,
            updated_at=now,
            custom_model_prices=prices,
        )
        try:
            async with db.transaction():
                await self._confirm_manager(principal, project_id, "add LLM API keys")
                if await LlmApiKey.exists().where(
                    (LlmApiKey.project == project_id) & (LlmApiKey.provider == provider.value)
                ):
                    raise _already_exists(provider)
                await LlmApiKey.insert(self._row(record, secret))
                await self._projects.mark_llm_keys_changed(project_id)
                await self._audit_change(principal, "llm_api_key.add", record, [])
        except Exception as error:
            if db.is_unique_violation(error):  # a concurrent add for the same provider won
                raise _already_exists(provider) from None
            raise
        return record

    async def update(
        self, principal: Principal, *, key_id: uuid.UUID, changes: KeyChanges
    ) -> LlmKeyRecord:
        """Replace the secret and/or model settings in place: no moment without a key.

        The row is re-read under a lock inside the transaction, and only what the caller sent is
        written, so two admins changing different things at once both get their change.
        """
        key = await self._managed_key(principal, key_id, "update LLM API keys")
        secret, models, prices = _valid_changes(changes)
        async with db.transaction():
            await self._confirm_manager(principal, key.project_id, "update LLM API keys")
            await db.lock_for_update(LlmApiKey, key_id)
            row = await LlmApiKey.select().where(LlmApiKey.id == key_id).first()
            if row is None:  # deleted a moment ago
                raise _not_found()
            current = _record(row)
            updated = replace(
                current,
                custom_models=current.custom_models if models is None else models,
                with_default_models=(
                    current.with_default_models
                    if changes.with_default_models is None
                    else changes.with_default_models
                ),
                secret_hint=current.secret_hint if secret is None else _hint(secret),
                updated_at=self._clock.now(),
            )
            updated = replace(
                updated,
                custom_model_prices=_prices_for(
                    updated.custom_models,
                    current.custom_model_prices if prices is None else prices,
                    changed=prices is not None,
                ),
            )
            _require_some_model(updated.custom_models, updated.with_default_models)
            await LlmApiKey.update(self._changed_values(updated, secret, changes)).where(
                LlmApiKey.id == key_id
            )
            await self._projects.mark_llm_keys_changed(updated.project_id)
            await self._audit_change(
                principal, "llm_api_key.update", updated, changes.changed_fields()
            )
        return updated

    def _changed_values(
        self, updated: LlmKeyRecord, secret: str | None, changes: KeyChanges
    ) -> dict[Any, Any]:
        values: dict[Any, Any] = {LlmApiKey.updated_at: updated.updated_at}
        if changes.custom_models is not None:
            values[LlmApiKey.custom_models] = json.dumps(list(updated.custom_models))
        if changes.with_default_models is not None:
            values[LlmApiKey.with_default_models] = updated.with_default_models
        if changes.custom_models is not None or changes.custom_model_prices is not None:
            values[LlmApiKey.custom_model_prices] = _prices_json(updated.custom_model_prices)
        if secret is not None:
            values[LlmApiKey.secret_ciphertext] = self._keyring.encrypt(secret, _binding(updated))
            values[LlmApiKey.encryption_key_id] = self._keyring.newest_id
            values[LlmApiKey.secret_hint] = updated.secret_hint
        return values

    async def delete(self, principal: Principal, *, key_id: uuid.UUID) -> uuid.UUID:
        """Remove the key and its ciphertext; requests routed through it stop at once."""
        key = await self._managed_key(principal, key_id, "delete LLM API keys")
        async with db.transaction():
            await self._confirm_manager(principal, key.project_id, "delete LLM API keys")
            rows = await LlmApiKey.delete().where(LlmApiKey.id == key_id).returning(LlmApiKey.id)
            if not rows:
                raise _not_found()
            await self._projects.mark_llm_keys_changed(key.project_id)
            await self._audit_change(principal, "llm_api_key.delete", key, [])
        return key.id

    async def keys(self, principal: Principal, project_id: uuid.UUID) -> list[LlmKeyRecord]:
        """The project's provider keys, in `Provider` order (people only: GET /v1/models lists
        a project key's models)."""
        await self._access.authorize(
            principal, project_id, Permission.READ_LLM_API_KEYS, action="read provider keys"
        )
        return await _project_keys(project_id)

    def models_of(self, key: LlmKeyRecord) -> list[Model]:
        return self.catalog.models_of_key(
            key.provider, key.custom_models, key.with_default_models, key.custom_model_prices
        )

    async def project_model_ids(self, principal: Principal, project_id: uuid.UUID) -> list[str]:
        return [model.id for model in await self.project_models(principal, project_id)]

    async def project_models(self, principal: Principal, project_id: uuid.UUID) -> list[Model]:
        """The project's effective catalog: each model id once, routed by the documented rule."""
        await self._access.access(principal, project_id)
        claims = [model for key in await _project_keys(project_id) for model in self.models_of(key)]
        return list(resolve(claims).values())

    async def check_keyring(self) -> None:
        """Raise MissingEncryptionKey when stored secrets need a key the keyring lacks."""
        rows = await LlmApiKey.select(LlmApiKey.encryption_key_id).distinct()
        for row in rows:
            if row["encryption_key_id"] not in self._keyring.ids:
                raise MissingEncryptionKey(row["encryption_key_id"])

    async def rotate_encryption(
        self, *, batch_size: int = 100, on_batch: Callable[[int], None] | None = None
    ) -> RotationReport:
        """Re-encrypt every secret under the newest key, a batch per transaction.

        Idempotent and resumable: each batch commits on its own, and only rows still sealed with an
        older key are picked, so a rerun after an interruption continues where it stopped.
        """
        newest = self._keyring.newest_id
        already_current = await LlmApiKey.count().where(LlmApiKey.encryption_key_id == newest)
        rotated = 0
        while True:
            rows = await (
                LlmApiKey.select()
                .where(LlmApiKey.encryption_key_id != newest)
                .order_by(LlmApiKey.id)
                .limit(batch_size)
            )
            if not rows:
                break
            async with db.transaction():
                for row in rows:
                    rotated += await self._reseal(row)
            if on_batch is not None:
                on_batch(rotated)
        return RotationReport(
            rotated=rotated, already_current=already_current, newest_key_id=newest
        )

    async def _reseal(self, row: dict[str, Any]) -> int:
        binding = _binding(_record(row))
        secret = self._keyring.decrypt(row["secret_ciphertext"], binding)
        # Compare-and-set: a row whose secret was replaced meanwhile is already current.
        updated = (
            await LlmApiKey.update(
                {
                    LlmApiKey.secret_ciphertext: self._keyring.encrypt(secret, binding),
                    LlmApiKey.encryption_key_id: self._keyring.newest_id,
                }
            )
            .where(
                (LlmApiKey.id == row["id"])
                & (LlmApiKey.secret_ciphertext == row["secret_ciphertext"])
            )
            .returning(LlmApiKey.id)
        )
        return len(updated)

    async def keys_with_secrets(self, project_id: uuid.UUID) -> list[tuple[LlmKeyRecord, str]]:
        """Every key of a project with its decrypted secret, for the proxy's routes only."""
        rows = await LlmApiKey.select().where(LlmApiKey.project == project_id)
        keys = [_record(row) for row in rows]
        return [
            (key, self._keyring.decrypt(row["secret_ciphertext"], _binding(key)))
            for key, row in zip(keys, rows, strict=True)
        ]

    async def reveal_secret(self, key_id: uuid.UUID) -> str | None:
        """The plaintext secret of a key, for forwarding upstream; never for a response."""
        row = await LlmApiKey.select().where(LlmApiKey.id == key_id).first()
        if row is None:
            return None
        return self._keyring.decrypt(row["secret_ciphertext"], _binding(_record(row)))

    async def _confirm_manager(
        self, principal: Principal, project_id: uuid.UUID, action: str
    ) -> None:
        """The role checked before, read again under the project's lock in the write's own
        transaction (see `ProjectService.manage_locked`)."""
        # Every change here marks the project's routes as changed: an update of its row.
        await self._access.authorize_write(
            principal,
            project_id,
            Permission.MANAGE_LLM_API_KEYS,
            action=action,
            missing=_not_found(),
            updates_project=True,
        )

    async def _managed_key(
        self, principal: Principal, key_id: uuid.UUID, action: str
    ) -> LlmKeyRecord:
        row = await LlmApiKey.select().where(LlmApiKey.id == key_id).first()
        if row is None:
            raise _not_found()
        key = _record(row)
        await self._access.authorize(
            principal,
            key.project_id,
            Permission.MANAGE_LLM_API_KEYS,
            action=action,
            missing=_not_found(),
        )
        return key

    def _row(self, key: LlmKeyRecord, secret: str) -> LlmApiKey:
        return LlmApiKey(
            id=key.id,
            project=key.project_id,
            provider=key.provider.value,
            secret_ciphertext=self._keyring.encrypt(secret, _binding(key)),
            encryption_key_id=self._keyring.newest_id,
            secret_hint=key.secret_hint,
            custom_models=json.dumps(list(key.custom_models)),
            custom_model_prices=_prices_json(key.custom_model_prices),
            with_default_models=key.with_default_models,
            created_at=key.created_at,
            created_by=key.created_by,
            updated_at=key.updated_at,
        )

    async def _audit_change(
        self, principal: Principal, action: str, key: LlmKeyRecord, changed: list[str]
    ) -> None:
        """Audited, and the project's webhooks told, in the change's transaction."""
        details: dict[str, Any] = {"provider": key.provider.value, "secretHint": key.secret_hint}
        if changed:
            details["changed"] = changed
        await self._audit.record(
            principal,
            action=action,
            target_type="llm_api_key",
            target_id=str(key.id),
            project_id=key.project_id,
            details=details,
        )
        await self._outbox.publish(
            key.project_id,
            WebhookEvent.LLM_API_KEY_CHANGED,
            {
                "llmApiKeyId": str(key.id),
                "provider": key.provider.value,
                "change": _CHANGES[action],
                "changed": changed,
            },
            now=self._clock.now(),
        )


_CHANGES = {
    "llm_api_key.add": "added",
    "llm_api_key.update": "updated",
    "llm_api_key.delete": "deleted",
}


async def _project_keys(project_id: uuid.UUID) -> list[LlmKeyRecord]:
    rows = await LlmApiKey.select().where(LlmApiKey.project == project_id)
    order = list(Provider)
    return sorted((_record(row) for row in rows), key=lambda key: order.index(key.provider))


def _valid_key_fields(
    secret_key: str,
    custom_models: Sequence[str],
    with_default_models: bool,
    custom_model_prices: Sequence[CustomPrice],
) -> tuple[str, tuple[str, ...], dict[str, ModelPrice]]:
    """Every problem with a new key's fields at once: the secret, the models, their prices."""
    problems = ProblemCollector()
    secret = problems.check(lambda: _valid_secret(secret_key), otherwise="")
    models = problems.check(lambda: _valid_custom_models(custom_models), otherwise=None)
    if models is not None:
        problems.check(lambda: _require_some_model(models, with_default_models), otherwise=None)
    no_prices: dict[str, ModelPrice] = {}
    prices = problems.check(
        lambda: _valid_prices(custom_model_prices, models or ()), otherwise=no_prices
    )
    problems.raise_if_any()
    return secret, models or (), prices


def _valid_changes(
    changes: KeyChanges,
) -> tuple[str | None, tuple[str, ...] | None, dict[str, ModelPrice] | None]:
    """The new secret, models and prices, checked together; None where they do not change.
    Prices are checked against the models sent with them (else the key's, at write time)."""
    problems = ProblemCollector()
    new_secret, new_models = changes.secret_key, changes.custom_models
    secret = (
        None
        if new_secret is None
        else problems.check(lambda: _valid_secret(new_secret), otherwise=None)
    )
    models = (
        None
        if new_models is None
        else problems.check(lambda: _valid_custom_models(new_models), otherwise=None)
    )
    new_prices = changes.custom_model_prices
    prices = (
        None
        if new_prices is None
        else problems.check(lambda: _valid_prices(new_prices, models), otherwise=None)
    )
    problems.raise_if_any()
    return secret, models, prices


# The most a price may be: far above any provider's (USD per million tokens).
MAX_PRICE_MICROS = 10_000 * 1_000_000


def _valid_prices(
    prices: Sequence[CustomPrice], custom_models: Sequence[str] | None
) -> dict[str, ModelPrice]:
    """Prices of custom models; `custom_models` None: checked against the key's at write time."""
    problems = []
    checked: dict[str, ModelPrice] = {}
    for index, price in enumerate(prices):
        at = ("customModelPrices", str(index))
        if custom_models is not None and price.model not in custom_models:
            problems.append(
                FieldProblem(field=(*at, "model"), message="Price only the key's custom models.")
            )
        amounts = []
        for name, text in (
            ("inputUsdPerMillionTokens", price.input_usd),
            ("outputUsdPerMillionTokens", price.output_usd),
        ):
            micros = usd_micros(text)
            if micros is None or micros > MAX_PRICE_MICROS:
                problems.append(
                    FieldProblem(
                        field=(*at, name),
                        message='Give USD per million tokens from 0 to 10000, such as "2.50", '
                        "with at most 6 decimals.",
                    )
                )
            amounts.append(micros or 0)
        checked[price.model] = ModelPrice(amounts[0], amounts[1])
    if problems:
        raise InvalidInput(problems)
    return checked


def _prices_for(
    models: Sequence[str], prices: Mapping[str, ModelPrice], *, changed: bool
) -> dict[str, ModelPrice]:
    """The prices that apply to `models`: a model no longer custom loses its price."""
    if changed:
        unknown = [model for model in prices if model not in models]
        if unknown:
            raise InvalidInput.single(
                "customModelPrices", f"`{unknown[0][:60]}` is not one of the key's custom models."
            )
    return {model: price for model, price in prices.items() if model in models}


def _prices_json(prices: Mapping[str, ModelPrice]) -> str:
    return json.dumps(
        {model: {"input": p.input_micros, "output": p.output_micros} for model, p in prices.items()}
    )


def _prices_from(stored: Any) -> dict[str, ModelPrice]:
    return {
        model: ModelPrice(int(price["input"]), int(price["output"]))
        for model, price in (stored or {}).items()
    }


def _binding(key: LlmKeyRecord) -> bytes:
    """Associated data: the ciphertext decrypts only in this row of this project."""
    return f"traylinx/llm_api_keys/v1|{key.project_id}|{key.provider.value}|{key.id}".encode()


def _valid_secret(secret_key: str) -> str:
    secret = secret_key.strip()
    if not secret:
        raise InvalidInput.single("secretKey", "Paste the key from your provider's dashboard.")
    if len(secret) > MAX_SECRET_LENGTH:
        raise InvalidInput.single(
            "secretKey", f"A provider key has at most {MAX_SECRET_LENGTH} characters."
        )
    if not _SECRET.fullmatch(secret):
        raise InvalidInput.single(
            "secretKey", "A provider key has no spaces, line breaks or non-ASCII characters."
        )
    return secret


def _valid_custom_models(custom_models: Sequence[str]) -> tuple[str, ...]:
    if len(custom_models) > MAX_CUSTOM_MODELS:
        raise InvalidInput.single(
            "customModels", f"Register at most {MAX_CUSTOM_MODELS} custom models per key."
        )
    problems = [
        FieldProblem(field=("customModels", str(index)), message=message)
        for index, model_id in enumerate(custom_models)
        if (message := _model_id_problem(model_id))
    ]
    if problems:
        raise InvalidInput(problems)
    return tuple(dict.fromkeys(custom_models))  # duplicates folded, order kept


def _model_id_problem(model_id: str) -> str | None:
    if not model_id:
        return "A model id cannot be empty."
    if len(model_id) > MAX_MODEL_ID_LENGTH:
        return f"A model id has at most {MAX_MODEL_ID_LENGTH} characters."
    if not is_model_id(model_id):
        return "A model id cannot contain spaces or control characters."
    return invisible_problem(model_id, "model id")


def _require_some_model(custom_models: tuple[str, ...], with_default_models: bool) -> None:
    if not custom_models and not with_default_models:
        raise InvalidInput.single(
            "withDefaultModels",
            "Without default models and with no custom models, this key would route no model.",
        )


def _hint(secret: str) -> str:
    return "…" + secret[-4:] if len(secret) >= HINT_MIN_SECRET_LENGTH else "…"


def _already_exists(provider: Provider) -> AlreadyExists:
    return AlreadyExists(
        f"This project already has a {provider.name} key; use updateLlmApiKey to replace its "
        "secret or models.",
        field=("provider",),
    )


def _not_found() -> NotFound:
    return NotFound("LLM API key not found.", field=("id",))


def _record(row: dict[str, Any]) -> LlmKeyRecord:
    custom = db.json_value(row["custom_models"])
    return LlmKeyRecord(
        id=row["id"],
        project_id=row["project"],
        provider=Provider(row["provider"]),
        secret_hint=row["secret_hint"],
        custom_models=tuple(custom),
        with_default_models=bool(row["with_default_models"]),
        created_at=row["created_at"],
        created_by=row["created_by"],
        updated_at=row["updated_at"],
        custom_model_prices=_prices_from(db.json_value(row["custom_model_prices"])),
    )
