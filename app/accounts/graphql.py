"""GraphQL face of accounts: the User type and the sign-up / login / session mutations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry

from app.accounts.http import refresh_cookie
from app.accounts.service import AuthSession, UserRecord
from app.graphql.context import AppInfo
from app.graphql.errors import MutationInput, UserError, attempt, user_errors_field
from app.graphql.permissions import IsAuthenticated


@strawberry.type(name="User", description="A person with an account.")
class UserType:
    id: strawberry.ID = strawberry.field(description="The person's id (a UUID).")
    email: str = strawberry.field(
        description="The address they log in with, lowercased, e.g. `ada@example.com`."
    )
    name: str = strawberry.field(description="How they are shown to others (1-100 characters).")
    created_at: datetime = strawberry.field(description="When the account was created.")

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
    access_token: str | None = strawberry.field(
        description="A JWT to send as `Authorization: Bearer …` until `accessTokenExpiresAt` "
        "(15 minutes by default); null on errors."
    )
    access_token_expires_at: datetime | None = strawberry.field(
        description="When the access token stops working: get new tokens with refreshSession "
        "before then. Null on errors."
    )
    refresh_token: str | None = strawberry.field(
        description="Opaque; exchange it once with refreshSession for the next tokens (valid "
        "30 days by default). Null on errors, or when it went into the cookie instead."
    )
    user: UserType | None = strawberry.field(description="Who is signed in; null on errors.")
    user_errors: list[UserError] = user_errors_field()


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


@strawberry.type(description="The result of signUp: the new account's first session.")
class SignUpPayload(AuthPayload):
    pass


@strawberry.type(description="The result of logIn: a new session.")
class LogInPayload(AuthPayload):
    pass


@strawberry.type(
    description="The result of refreshSession: the session's next tokens; the refresh token "
    "sent no longer works."
)
class RefreshSessionPayload(AuthPayload):
    pass


@strawberry.type(description="The result of logOut.")
class LogOutPayload:
    ok: bool = strawberry.field(
        description="True when the session ended: its access and refresh tokens no longer work."
    )
    user_errors: list[UserError] = user_errors_field()


_IN_COOKIE_HELP = (
    "For browser apps of this service: the refresh token goes into an HttpOnly cookie for "
    "POST /auth/refresh instead of the payload (whose refreshToken is then null)."
)


@strawberry.input(description="A new account.")
class SignUpInput:
    email: str = strawberry.field(
        description="At most 254 characters, shaped like `ada@example.com`; stored lowercased "
        "and trimmed. One account per address."
    )
    password: str = strawberry.field(description="12-256 characters.")
    name: str = strawberry.field(
        description="1-100 characters once trimmed, with no characters that would not show."
    )
    refresh_token_in_cookie: bool = strawberry.field(default=False, description=_IN_COOKIE_HELP)

    def __repr__(self) -> str:
        return "SignUpInput(...)"  # holds password: never shown


@strawberry.input(description="An account's email and password.")
class LogInInput:
    email: str = strawberry.field(
        description="The account's address; case and surrounding spaces do not matter."
    )
    password: str = strawberry.field(description="The account's password.")
    refresh_token_in_cookie: bool = strawberry.field(default=False, description=_IN_COOKIE_HELP)

    def __repr__(self) -> str:
        return "LogInInput(...)"  # holds password: never shown


@strawberry.input(description="The refresh token to exchange.")
class RefreshSessionInput:
    refresh_token: str = strawberry.field(
        description="The last one signUp, logIn or refreshSession returned; each works once."
    )

    def __repr__(self) -> str:
        return "RefreshSessionInput(...)"  # holds refreshToken: never shown


@strawberry.input(description="Which session to end.")
class LogOutInput:
    refresh_token: str = strawberry.field(
        description="A refresh token of the session, used or not; it must be the caller's."
    )

    def __repr__(self) -> str:
        return "LogOutInput(...)"  # holds refreshToken: never shown


@strawberry.type
class AccountMutations:
    @strawberry.mutation(
        description="Create an account and start a session. Errors: INVALID (email, password "
        "or name), ALREADY_EXISTS (an account uses the email)."
    )
    async def sign_up(
        self, info: AppInfo, input: Annotated[SignUpInput, MutationInput]
    ) -> SignUpPayload:
        context = info.context
        session, errors = await attempt(
            lambda: context.services.accounts.sign_up(
                context.principal, email=input.email, password=input.password, name=input.name
            )
        )
        return SignUpPayload(
            **_delivered(info, session, input.refresh_token_in_cookie), user_errors=errors
        )

    @strawberry.mutation(
        description="Start a session with email and password. Errors: INVALID_CREDENTIALS, "
        "TOO_MANY_ATTEMPTS."
    )
    async def log_in(
        self, info: AppInfo, input: Annotated[LogInInput, MutationInput]
    ) -> LogInPayload:
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
        description="Exchange a refresh token for new tokens. Each refresh token works once: "
        "sending one again ends its whole session. Errors: INVALID_REFRESH_TOKEN."
    )
    async def refresh_session(
        self, info: AppInfo, input: Annotated[RefreshSessionInput, MutationInput]
    ) -> RefreshSessionPayload:
        accounts = info.context.services.accounts
        session, errors = await attempt(lambda: accounts.refresh(refresh_token=input.refresh_token))
        return RefreshSessionPayload(**_auth_fields(session), user_errors=errors)

    @strawberry.mutation(
        description="End the session the refresh token belongs to: its access and refresh "
        "tokens stop working. Errors: INVALID_REFRESH_TOKEN (unknown, or another person's), "
        "UNAUTHENTICATED (called with a project API key).",
        permission_classes=[IsAuthenticated],
    )
    async def log_out(
        self, info: AppInfo, input: Annotated[LogOutInput, MutationInput]
    ) -> LogOutPayload:
        context = info.context
        _, errors = await attempt(
            lambda: context.services.accounts.log_out(
                context.principal, refresh_token=input.refresh_token
            )
        )
        return LogOutPayload(ok=not errors, user_errors=errors)


__all__ = ["AccountMutations", "UserType"]
