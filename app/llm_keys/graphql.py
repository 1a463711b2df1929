"""GraphQL face of LLM provider keys and the model catalog."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from app.accounts.graphql import UserType
from app.errors import DomainError
from app.graphql.context import AppInfo
from app.graphql.cost import list_bound
from app.graphql.enums import described_enum
from app.graphql.errors import MutationInput, QueryError, UserError, attempt, user_errors_field
from app.graphql.ids import parse_id
from app.graphql.permissions import IsAuthenticated
from app.llm_keys.catalog import Model, ModelPrice, ModelSource, Provider
from app.llm_keys.service import (
    MAX_CUSTOM_MODELS,
    MAX_KEY_MODELS,
    CustomPrice,
    KeyChanges,
    LlmKeyRecord,
)
from app.money import usd

if TYPE_CHECKING:
    import uuid

LlmProvider = described_enum(
    Provider,
    name="LlmProvider",
    description="A model provider. When keys of two providers route one model id, a CUSTOM "
    "model wins over a DEFAULT one, then OPENAI over ANTHROPIC.",
    values={
        Provider.OPENAI: "OpenAI's API (api.openai.com unless the server is set otherwise).",
        Provider.ANTHROPIC: "Anthropic's API (api.anthropic.com unless the server is set "
        "otherwise).",
    },
)
ModelSourceEnum = described_enum(
    ModelSource,
    name="ModelSource",
    description="DEFAULT: the provider's catalog; CUSTOM: yours.",
    values={
        ModelSource.DEFAULT: "In the provider's catalog, routed because the key has "
        "`withDefaultModels`.",
        ModelSource.CUSTOM: "One of the key's `customModels`.",
    },
)


@strawberry.type(name="ModelPrice", description="USD per million tokens.")
class ModelPriceType:
    input_usd_per_million_tokens: str = strawberry.field(
        description='USD per million input (prompt) tokens, a decimal string, e.g. "2.50".'
    )
    output_usd_per_million_tokens: str = strawberry.field(
        description='USD per million output (completion) tokens, a decimal string, e.g. "10.00".'
    )
    as_of: str | None = strawberry.field(
        description="When the catalog's price was read off the provider's price list; null for "
        "a price the project gave its custom model."
    )

    @classmethod
    def of(cls, price: ModelPrice) -> ModelPriceType:
        return cls(
            input_usd_per_million_tokens=usd(price.input_micros),
            output_usd_per_million_tokens=usd(price.output_micros),
            as_of=price.as_of,
        )


@strawberry.type(name="LlmModel", description="A model a project can call through /v1.")
class LlmModelType:
    id: str = strawberry.field(
        description="The model id to send in requests, e.g. `gpt-4o-mini`; matched exactly."
    )
    provider: LlmProvider = strawberry.field(  # type: ignore[valid-type]
        description="The provider whose key serves it."
    )
    source: ModelSourceEnum = strawberry.field(  # type: ignore[valid-type]
        description="Why the key routes it."
    )
    price: ModelPriceType | None = strawberry.field(
        description="Null: no known price; requests count against token budgets only, and "
        "spend budgets leave them out."
    )

    @classmethod
    def of(cls, model: Model) -> LlmModelType:
        return cls(
            id=model.id,
            provider=model.provider,
            source=model.source,
            price=ModelPriceType.of(model.price) if model.price else None,
        )


@strawberry.input(
    name="CustomModelPriceInput",
    description="A custom model's price, so that spend budgets count its requests.",
)
class CustomModelPriceInput:
    model: str = strawberry.field(description="One of the key's custom models.")
    input_usd_per_million_tokens: str = strawberry.field(
        description='USD per million input tokens, e.g. "2.50": 0-10000, at most 6 decimals.'
    )
    output_usd_per_million_tokens: str = strawberry.field(
        description='USD per million output tokens, e.g. "10.00": 0-10000, at most 6 decimals.'
    )

    def to_price(self) -> CustomPrice:
        return CustomPrice(
            self.model, self.input_usd_per_million_tokens, self.output_usd_per_million_tokens
        )


@strawberry.type(
    name="LlmApiKey",
    description="A provider credential stored encrypted; its secret is never returned.",
)
class LlmApiKeyType:
    id: strawberry.ID = strawberry.field(description="The provider key's id (a UUID).")
    provider: LlmProvider = strawberry.field(  # type: ignore[valid-type]
        description="Whose key it is; a project has at most one per provider."
    )
    secret_hint: str = strawberry.field(
        description="The secret's last 4 characters, e.g. `…a1B2`; only `…` for a secret "
        "shorter than 12 characters."
    )
    custom_models: list[str] = strawberry.field(
        description="Model ids it routes besides the catalog's, in the order given (at most 100).",
        metadata=list_bound(MAX_CUSTOM_MODELS),
    )
    with_default_models: bool = strawberry.field(
        description="Whether it also routes the provider's catalog models."
    )
    created_at: datetime = strawberry.field(description="When it was added.")
    updated_at: datetime = strawberry.field(
        description="When its secret, models or prices last changed."
    )
    record: strawberry.Private[LlmKeyRecord]

    @strawberry.field(
        description="Models this key routes: defaults (if enabled) then custom.",
        metadata=list_bound(MAX_KEY_MODELS),
    )
    def models(self, info: AppInfo) -> list[LlmModelType]:
        return [LlmModelType.of(m) for m in info.context.services.llm_keys.models_of(self.record)]

    @strawberry.field(description="Who added it; null when their account no longer exists.")
    async def created_by(self, info: AppInfo) -> UserType | None:
        if self.record.created_by is None:
            return None
        user = await info.context.users.load(self.record.created_by)
        return UserType.of(user) if user else None

    @classmethod
    def of(cls, key: LlmKeyRecord) -> LlmApiKeyType:
        return cls(
            id=strawberry.ID(str(key.id)),
            provider=key.provider,
            secret_hint=key.secret_hint,
            custom_models=list(key.custom_models),
            with_default_models=key.with_default_models,
            created_at=key.created_at,
            updated_at=key.updated_at,
            record=key,
        )


async def llm_api_keys(info: AppInfo, project_id: uuid.UUID) -> list[LlmApiKeyType]:
    context = info.context
    try:
        keys = await context.services.llm_keys.keys(context.principal, project_id)
    except DomainError as error:
        raise QueryError(error) from None
    return [LlmApiKeyType.of(key) for key in keys]


async def project_models(info: AppInfo, project_id: uuid.UUID) -> list[LlmModelType]:
    context = info.context
    models = await context.services.llm_keys.project_models(context.principal, project_id)
    return [LlmModelType.of(model) for model in models]


@strawberry.input(description="A provider key to store for a project.")
class AddLlmApiKeyInput:
    project_id: strawberry.ID = strawberry.field(description="The project's id.")
    provider: LlmProvider = strawberry.field(  # type: ignore[valid-type]
        description="Whose key it is; a second key for one provider is refused."
    )
    secret_key: str = strawberry.field(
        description="The key from the provider's dashboard: at most 500 printable ASCII "
        "characters once trimmed, no spaces. Stored encrypted, never returned."
    )
    custom_models: list[str] = strawberry.field(
        default_factory=list,
        description="Model ids to route besides the catalog's: at most 100, each 1-200 "
        "characters without spaces or control characters; duplicates are dropped.",
    )
    with_default_models: bool = strawberry.field(
        default=True,
        description="Route the provider's catalog models too. False with no custom models is "
        "refused: the key would route nothing.",
    )
    custom_model_prices: list[CustomModelPriceInput] = strawberry.field(
        default_factory=list, description="Prices of some or all of the custom models."
    )

    def __repr__(self) -> str:
        return "AddLlmApiKeyInput(...)"  # holds secretKey: never shown


@strawberry.type(description="The result of addLlmApiKey.")
class AddLlmApiKeyPayload:
    llm_api_key: LlmApiKeyType | None = strawberry.field(
        description="The stored key; null on errors."
    )
    user_errors: list[UserError] = user_errors_field()


@strawberry.input(description="Absent (or null) fields stay as they are.")
class UpdateLlmApiKeyInput:
    id: strawberry.ID = strawberry.field(description="The provider key's id.")
    secret_key: str | None = strawberry.field(
        default=None, description="A new secret, as in addLlmApiKey."
    )
    custom_models: list[str] | None = strawberry.field(
        default=None,
        description="Replaces the list, as in addLlmApiKey; models no longer listed lose "
        "their prices.",
    )
    with_default_models: bool | None = strawberry.field(
        default=None, description="As in addLlmApiKey: the key must still route some model."
    )
    custom_model_prices: list[CustomModelPriceInput] | None = strawberry.field(
        default=None, description="Replaces every custom model's price; null: kept."
    )

    def __repr__(self) -> str:
        return "UpdateLlmApiKeyInput(...)"  # holds secretKey: never shown


@strawberry.type(description="The result of updateLlmApiKey.")
class UpdateLlmApiKeyPayload:
    llm_api_key: LlmApiKeyType | None = strawberry.field(
        description="The key as changed; null on errors."
    )
    user_errors: list[UserError] = user_errors_field()


@strawberry.input(description="The provider key to delete.")
class DeleteLlmApiKeyInput:
    id: strawberry.ID = strawberry.field(description="The provider key's id.")


@strawberry.type(description="The result of deleteLlmApiKey.")
class DeleteLlmApiKeyPayload:
    deleted_llm_api_key_id: strawberry.ID | None = strawberry.field(
        description="The id of the key deleted; null on errors."
    )
    user_errors: list[UserError] = user_errors_field()


@strawberry.type
class LlmKeyMutations:
    @strawberry.mutation(
        description="Store a provider key for the project (OWNER or ADMIN); one per provider. "
        "Errors: INVALID (secretKey, customModels, withDefaultModels or customModelPrices, "
        "each named), NOT_FOUND (the project), FORBIDDEN (a MEMBER, or a project API key), "
        "ALREADY_EXISTS (the project has a key for this provider).",
        permission_classes=[IsAuthenticated],
    )
    async def add_llm_api_key(
        self, info: AppInfo, input: Annotated[AddLlmApiKeyInput, MutationInput]
    ) -> AddLlmApiKeyPayload:
        context = info.context

        async def add() -> LlmKeyRecord:
            return await context.services.llm_keys.add(
                context.principal,
                project_id=parse_id(input.project_id, "projectId"),
                provider=Provider(input.provider),
                secret_key=input.secret_key,
                custom_models=input.custom_models,
                with_default_models=input.with_default_models,
                custom_model_prices=[price.to_price() for price in input.custom_model_prices],
            )

        key, errors = await attempt(add)
        return AddLlmApiKeyPayload(
            llm_api_key=LlmApiKeyType.of(key) if key else None, user_errors=errors
        )

    @strawberry.mutation(
        description="Replace a provider key's secret or models in place (OWNER or ADMIN). "
        "Errors: INVALID (each field named), NOT_FOUND (the key), FORBIDDEN (a MEMBER, or a "
        "project API key).",
        permission_classes=[IsAuthenticated],
    )
    async def update_llm_api_key(
        self, info: AppInfo, input: Annotated[UpdateLlmApiKeyInput, MutationInput]
    ) -> UpdateLlmApiKeyPayload:
        context = info.context

        async def update() -> LlmKeyRecord:
            return await context.services.llm_keys.update(
                context.principal,
                key_id=parse_id(input.id),
                changes=KeyChanges(
                    secret_key=input.secret_key,
                    custom_models=input.custom_models,
                    with_default_models=input.with_default_models,
                    custom_model_prices=[p.to_price() for p in input.custom_model_prices]
                    if input.custom_model_prices is not None
                    else None,
                ),
            )

        key, errors = await attempt(update)
        return UpdateLlmApiKeyPayload(
            llm_api_key=LlmApiKeyType.of(key) if key else None, user_errors=errors
        )

    @strawberry.mutation(
        description="Delete a provider key (OWNER or ADMIN): the project's requests to that "
        "provider stop at once. Errors: NOT_FOUND (the key), FORBIDDEN (a MEMBER, or a project "
        "API key).",
        permission_classes=[IsAuthenticated],
    )
    async def delete_llm_api_key(
        self, info: AppInfo, input: Annotated[DeleteLlmApiKeyInput, MutationInput]
    ) -> DeleteLlmApiKeyPayload:
        context = info.context

        async def delete() -> strawberry.ID:
            key_id = await context.services.llm_keys.delete(
                context.principal, key_id=parse_id(input.id)
            )
            return strawberry.ID(str(key_id))

        deleted, errors = await attempt(delete)
        return DeleteLlmApiKeyPayload(deleted_llm_api_key_id=deleted, user_errors=errors)
