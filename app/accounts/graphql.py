"""GraphQL face of accounts: the User type and the sign-up / login / session mutations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from app.accounts.http import refresh_cookie
from app.accounts.service import AuthSession, UserRecord
from app.graphql.context import AppInfo
from app.graphql.errors import UserError, attempt
from app.graphql.permissions import IsAuthenticated


@strawberry.type(name="User")
class UserType:
    id: strawberry.ID
    email: str
    name: str
    created_at: datetime

    @classmethod
    def of(cls, user: UserRecord) -> UserType:
        return cls(
            id=strawberry.ID(str(user.id)),
            email=user.email,
            name=user.name,
            created_at=user.created_at,
        )


@strawberry.interface(description="A new session: tokens are shown once, in this payload.")
class AuthPayload:
    access_token: str | None
    access_token_expires_at: datetime | None
    refresh_token: str | None
    user: UserType | None
    user_errors: list[UserError]


def _delivered(info: AppInfo, session: AuthSession | None, in_cookie: bool) -> dict[str, Any]:
    """The payload's fields; with `in_cookie`, the refresh token goes into the console's
    HttpOnly cookie instead of the payload (see app/accounts/http.py)."""
    fields = _auth_fields(session)
    response = info.context.response
    if session is not None and in_cookie and response is not None and info.context.request:
        lifetime = info.context.services.settings.auth.refresh_token_ttl
        cookie = refresh_cookie(info.context.request, session.refresh_token, lifetime)
        response.cookies.append(cookie)
        fields["refresh_token"] = None
    return fields


def _auth_fields(session: AuthSession | None) -> dict[str, Any]:
    if session is None:
        return {
            "access_token": None,
            "access_token_expires_at": None,
            "refresh_token": None,
            "user": None,
        }
    return {
        "access_token": session.access_token,
        "access_token_expires_at": session.access_token_expires_at,
        "refresh_token": session.refresh_token,
        "user": UserType.of(session.user),
    }


@strawberry.type
class SignUpPayload(AuthPayload):
    pass


@strawberry.type
class LogInPayload(AuthPayload):
    pass


@strawberry.type
class RefreshSessionPayload(AuthPayload):
    pass


@strawberry.type
class LogOutPayload:
    ok: bool
    user_errors: list[UserError]


_IN_COOKIE_HELP = (
    "For browser apps of this service: the refresh token goes into an HttpOnly cookie for "
    "POST /auth/refresh instead of the payload (whose refreshToken is then null)."
)


@strawberry.input
class SignUpInput:
    email: str
    password: str
    name: str
    refresh_token_in_cookie: bool = strawberry.field(default=False, description=_IN_COOKIE_HELP)

    def __repr__(self) -> str:
        return "SignUpInput(...)"  # holds password: never shown


@strawberry.input
class LogInInput:
    email: str
    password: str
    refresh_token_in_cookie: bool = strawberry.field(default=False, description=_IN_COOKIE_HELP)

    def __repr__(self) -> str:
        return "LogInInput(...)"  # holds password: never shown


@strawberry.input
class RefreshSessionInput:
    refresh_token: str

    def __repr__(self) -> str:
        return "RefreshSessionInput(...)"  # holds refreshToken: never shown


@strawberry.input
class LogOutInput:
    refresh_token: str

    def __repr__(self) -> str:
        return "LogOutInput(...)"  # holds refreshToken: never shown


@strawberry.type
class AccountMutations:
    @strawberry.mutation(description="Create an account and start a session.")
    async def sign_up(self, info: AppInfo, input: SignUpInput) -> SignUpPayload:
        context = info.context
        session, errors = await attempt(
            lambda: context.services.accounts.sign_up(
                context.principal, email=input.email, password=input.password, name=input.name
            )
        )
        return SignUpPayload(
            **_delivered(info, session, input.refresh_token_in_cookie), user_errors=errors
        )

    @strawberry.mutation(description="Start a session with email and password.")
    async def log_in(self, info: AppInfo, input: LogInInput) -> LogInPayload:
        context = info.context
        session, errors = await attempt(
            lambda: context.services.accounts.log_in(
                email=input.email, password=input.password, client_ip=context.client_ip
            )
        )
        return LogInPayload(
            **_delivered(info, session, input.refresh_token_in_cookie), user_errors=errors
        )

    @strawberry.mutation(
        description="Exchange a refresh token for new tokens. Each refresh token works once."
    )
    async def refresh_session(
        self, info: AppInfo, input: RefreshSessionInput
    ) -> RefreshSessionPayload:
        accounts = info.context.services.accounts
        session, errors = await attempt(lambda: accounts.refresh(refresh_token=input.refresh_token))
        return RefreshSessionPayload(**_auth_fields(session), user_errors=errors)

    @strawberry.mutation(
        description="End the session the refresh token belongs to.",
        permission_classes=[IsAuthenticated],
    )
    async def log_out(self, info: AppInfo, input: LogOutInput) -> LogOutPayload:
        context = info.context
        _, errors = await attempt(
            lambda: context.services.accounts.log_out(
                context.principal, refresh_token=input.refresh_token
            )
        )
        return LogOutPayload(ok=not errors, user_errors=errors)


__all__ = ["AccountMutations", "UserType"]
