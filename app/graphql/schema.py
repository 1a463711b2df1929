"""The schema: every domain's queries and mutations, plus limits, caches and error masking."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import strawberry
from graphql import ASTValidationRule, GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.disable_introspection import DisableIntrospection
from strawberry.extensions.max_aliases import create_validator as alias_limit_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_limit_rule
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext, ExecutionResult

from app.accounts.graphql import AccountMutations, UserType
from app.api_keys.graphql import ApiKeyMutations
from app.db import DatabaseUnavailable, is_unavailable
from app.graphql.context import AppInfo
from app.graphql.cost import LimitQueryCost
from app.graphql.errors import is_expected, public_error
from app.graphql.key_usage import MarkRejectedOperations
from app.graphql.permissions import IsAuthenticated
from app.graphql.scalars import (
    DATETIME_SCALAR,
    NoNullInNonNullLiterals,
    NoNullInNonNullVariables,
)
from app.llm_keys.graphql import LlmKeyMutations
from app.projects.graphql import ProjectMutations, ProjectQueries, ProjectType
from app.settings import GraphQLLimits
from app.usage.graphql import UsageMutations
from app.webhooks.graphql import WebhookMutations

log = logging.getLogger(__name__)

Viewer = Annotated[
    UserType | ProjectType,
    strawberry.union("Viewer", description="Who is calling: a person, or a project via its key."),
]


@strawberry.type
class ViewerQuery:
    @strawberry.field(description="The caller.", permission_classes=[IsAuthenticated])
    async def viewer(self, info: AppInfo) -> Viewer | None:
        context = info.context
        principal = context.principal
        if principal.project_id is not None:
            access = await context.services.projects.project(principal, principal.project_id)
            return ProjectType.of(access) if access else None
        if principal.user_id is not None:
            user = await context.users.load(principal.user_id)
            return UserType.of(user) if user else None
        return None


class Schema(strawberry.Schema):
    """Strawberry's schema, with every operation under a deadline and every error made public
    in one place (`public_error`), whichever phase raised it."""

    def __init__(self, *args: Any, deadline_seconds: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline_seconds = deadline_seconds

    async def execute(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        try:
            async with asyncio.timeout(self._deadline_seconds):
                result = await super().execute(*args, **kwargs)
        except TimeoutError:
            # Cancelled where it stood: a write in progress rolls back with its transaction.
            log.warning("operation stopped after its deadline of %s s", self._deadline_seconds)
            return ExecutionResult(data=None, errors=[_past_deadline(self._deadline_seconds)])
        if result.errors:
            unavailable = next(
                (e for e in result.errors if e.original_error and is_unavailable(e.original_error)),
                None,
            )
            if unavailable is not None:
                # Answered 503 at the HTTP edge: retry later, nothing was wrong with the request.
                raise DatabaseUnavailable from unavailable.original_error
            result.errors = [public_error(error) for error in result.errors]
        return result

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log crashes with their traceback; expected errors are the client's business.

        Strawberry's default logs every error, including validation messages that may quote
        the variables a client sent (and so a secret).
        """
        for error in errors:
            if not is_expected(error):
                log.error(
                    "unexpected error in %s",
                    ".".join(str(part) for part in error.path or ()) or "operation",
                    exc_info=error.original_error,
                )


def _past_deadline(seconds: float) -> GraphQLError:
    return GraphQLError(
        f"The operation took longer than {seconds:g} s and was stopped: ask for less "
        "(smaller pages, shorter ranges) or split it.",
        extensions={"code": "OPERATION_TIMEOUT"},
    )


def _root_type(name: str, description: str, types: tuple[type, ...]) -> type:
    """`merge_types` (which it calls to check that no field is defined twice), described."""
    merge_types(name, types)
    return strawberry.type(type(name, types, {}), description=description)


Query = _root_type(
    "Query",
    "What can be read. Every field needs `Authorization: Bearer` with a person's access token "
    "or a project API key with the READ scope; without one it fails with a top-level error "
    "whose `extensions.code` is UNAUTHENTICATED. A project API key reads only its own project.",
    (ViewerQuery, ProjectQueries),
)
Mutation = _root_type(
    "Mutation",
    "What can be changed. Each mutation takes one `input` and returns a payload whose "
    "`userErrors` list the expected refusals (see `UserErrorCode`; each mutation names the "
    "codes it can return); when it has any, the payload's other fields are null (logOut's "
    "`ok` is false). Every mutation but "
    "signUp, logIn and refreshSession needs `Authorization: Bearer`; without it the mutation "
    "fails with a top-level error whose `extensions.code` is UNAUTHENTICATED.",
    (
        AccountMutations,
        ProjectMutations,
        ApiKeyMutations,
        LlmKeyMutations,
        UsageMutations,
        WebhookMutations,
    ),
)


def build_schema(limits: GraphQLLimits | None = None, *, introspection: bool = True) -> Schema:
    return _schema(limits or GraphQLLimits(), introspection)


@functools.lru_cache(maxsize=8)
def _schema(limits: GraphQLLimits, introspection: bool) -> Schema:
    # Built once per process and configuration (about 0.1 s each): the schema holds no state
    # of its own, every request's services come from its context.
    # The depth and alias rules are built once: Strawberry's limiter extensions build new rule
    # classes per request, and a new class each time means ValidationCache never hits.
    limit_rules: list[type[ASTValidationRule]] = [
        depth_limit_rule(limits.max_depth, None),
        alias_limit_rule(limits.max_aliases),
    ]
    extensions: list[Callable[[], SchemaExtension] | type[SchemaExtension]] = [
        lambda: AddValidationRules([*limit_rules, NoNullInNonNullLiterals]),
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        # Parsing and validating the same document again costs more than executing it.
        lambda: ParserCache(maxsize=256),
        # Before validation: its rules expand fragments, which a hostile document multiplies.
        lambda: LimitQueryCost(max_objects=limits.max_objects, max_fields=limits.max_fields),
        lambda: ValidationCache(maxsize=256),
        NoNullInNonNullVariables,
        MarkRejectedOperations,
    ]
    if not introspection:
        extensions.append(DisableIntrospection)
    return Schema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,
        config=StrawberryConfig(scalar_map={datetime: DATETIME_SCALAR}),
        deadline_seconds=limits.deadline_seconds,
    )


schema = build_schema()
