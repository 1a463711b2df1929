"""Accounts: sign-up, login, refresh-token rotation and logout.

Sessions are a short-lived JWT access token plus an opaque refresh token. Refresh tokens are stored
as digests and rotated on every use; presenting an already-rotated token means it leaked, so the
whole family (every token descended from that login) is revoked.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app import db
from app.accounts.tables import RefreshToken, Session, User
from app.accounts.throttle import LoginThrottle
from app.audit.service import AuditService
from app.clock import Clock
from app.errors import (
    AlreadyExists,
    InvalidCredentials,
    InvalidRefreshToken,
    ProblemCollector,
    Unauthenticated,
)
from app.security import tokens
from app.security.jwt import AccessTokenCodec
from app.security.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, PasswordHasher
from app.security.principal import Principal
from app.text import invisible_problem

MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 100
# Deliberately loose: one @, something on each side, a dot in the domain. Deliverability is
# the mail system's business; this catches typos such as a missing @.
_EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class UserRecord:
    id: uuid.UUID
    email: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class AuthSession:
    access_token: str = field(repr=False)
    access_token_expires_at: datetime
    refresh_token: str = field(repr=False)
    user: UserRecord


def normalise_email(email: str) -> str:
    return email.strip().lower()


class AccountService:
    def __init__(
        self,
        *,
        clock: Clock,
        hasher: PasswordHasher,
        access_tokens: AccessTokenCodec,
        refresh_token_ttl: timedelta,
        audit: AuditService,
        throttle: LoginThrottle,
    ) -> None:
        self._clock = clock
        self._hasher = hasher
        self._access_tokens = access_tokens
        self._refresh_token_ttl = refresh_token_ttl
        self._audit = audit
        self._throttle = throttle

    async def sign_up(
        self, principal: Principal, *, email: str, password: str, name: str
    ) -> AuthSession:
        email = normalise_email(email)
        name = name.strip()
        _validate_sign_up(email, password, name)
        if await User.exists().where(User.email == email):
            raise _email_taken()
        # Hash outside the transaction: it takes tens of milliseconds and holds no lock.
        password_hash = await self._hasher.hash(password)
        user = UserRecord(id=uuid.uuid4(), email=email, name=name, created_at=self._clock.now())
        try:
            async with db.transaction():
                await User.insert(
                    User(
                        id=user.id,
                        email=user.email,
                        name=user.name,
                        password_hash=password_hash,
                        created_at=user.created_at,
                    )
                )
                session = await self._new_session(user)
                await self._audit.record(
                    Principal.user(user.id, principal.client_ip),
                    action="user.sign_up",
                    target_type="user",
                    target_id=str(user.id),
                )
        except Exception as error:
            # Two sign-ups for one address raced past the check above.
            if db.is_unique_violation(error):
                raise _email_taken() from None
            raise
        return session

    async def log_in(self, *, email: str, password: str, client_ip: str | None) -> AuthSession:
        email = normalise_email(email)
        await self._throttle.attempt(email, client_ip)
        row = await User.select().where(User.email == email).first()
        stored_hash = row["password_hash"] if row else None
        if len(password) > MAX_PASSWORD_LENGTH or not await self._hasher.verify(
            password, stored_hash
        ):
            # One answer for unknown email and wrong password: no account enumeration.
            raise InvalidCredentials("Email or password is incorrect.")
        assert row is not None
        await self._throttle.succeeded(email, client_ip)
        async with db.transaction():
            return await self._new_session(_user_record(row))

    async def refresh(self, *, refresh_token: str) -> AuthSession:
        now = self._clock.now()
        digest = tokens.digest(refresh_token)
        reused = False
        async with db.transaction():
            row = await RefreshToken.select().where(RefreshToken.token_digest == digest).first()
            if row is None or row["revoked_at"] is not None or row["expires_at"] <= now:
                raise _invalid_refresh_token()
            if not await _session_is_live(row["family_id"]):
                raise _invalid_refresh_token()
            claimed = (
                await RefreshToken.update({RefreshToken.used_at: now})
                .where(
                    (RefreshToken.id == row["id"])
                    & RefreshToken.used_at.is_null()
                    & RefreshToken.revoked_at.is_null()
                )
                .returning(RefreshToken.id)
            )
            if not claimed:
                # Already exchanged once: someone else holds a copy. End the whole session.
                await self._end_session(row["family_id"], now)
                reused = True
            else:
                user_row = await User.select().where(User.id == row["user"]).first()
                if user_row is None:
                    raise _invalid_refresh_token()
                session = await self._next_tokens(_user_record(user_row), row["family_id"])
        # Raised after the transaction commits, so the family revocation is kept.
        if reused:
            raise _invalid_refresh_token()
        return session

    async def log_out(self, principal: Principal, *, refresh_token: str) -> None:
        if principal.user_id is None:
            raise Unauthenticated("Log in to log out.")
        now = self._clock.now()
        async with db.transaction():
            row = (
                await RefreshToken.select(RefreshToken.family_id, RefreshToken.user)
                .where(RefreshToken.token_digest == tokens.digest(refresh_token))
                .first()
            )
            if row is None or row["user"] != principal.user_id:
                raise _invalid_refresh_token()
            await self._end_session(row["family_id"], now)

    async def end_session(self, *, refresh_token: str) -> None:
        """End the session a refresh token belongs to, whatever state the token is in (the
        console's log out: the cookie is the proof). Unknown tokens change nothing."""
        async with db.transaction():
            row = (
                await RefreshToken.select(RefreshToken.family_id)
                .where(RefreshToken.token_digest == tokens.digest(refresh_token))
                .first()
            )
            if row is not None:
                await self._end_session(row["family_id"], self._clock.now())

    async def user(self, user_id: uuid.UUID) -> UserRecord | None:
        row = await User.select().where(User.id == user_id).first()
        return _user_record(row) if row else None

    async def users(self, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, UserRecord]:
        wanted = list(set(user_ids))
        if not wanted:
            return {}
        rows = await User.select().where(User.id.is_in(wanted))
        return {row["id"]: _user_record(row) for row in rows}

    async def user_by_email(self, email: str) -> UserRecord | None:
        row = await User.select().where(User.email == normalise_email(email)).first()
        return _user_record(row) if row else None

    async def _new_session(self, user: UserRecord) -> AuthSession:
        session_id = uuid.uuid4()
        await Session.insert(Session(id=session_id, user=user.id, created_at=self._clock.now()))
        return await self._next_tokens(user, session_id)

    async def _next_tokens(self, user: UserRecord, session_id: uuid.UUID) -> AuthSession:
        """A refresh token of the session (its refresh tokens share its id as `family_id`) and
        an access token naming it."""
        now = self._clock.now()
        refresh_token = tokens.new_refresh_token()
        await RefreshToken.insert(
            RefreshToken(
                id=uuid.uuid4(),
                user=user.id,
                family_id=session_id,
                token_digest=tokens.digest(refresh_token),
                created_at=now,
                expires_at=now + self._refresh_token_ttl,
            )
        )
        access_token, expires_at = self._access_tokens.issue(user.id, session_id, now)
        return AuthSession(
            access_token=access_token,
            access_token_expires_at=expires_at,
            refresh_token=refresh_token,
            user=user,
        )

    async def _end_session(self, session_id: uuid.UUID, now: datetime) -> None:
        """Its refresh tokens stop working, and so do its access tokens (checked against the
        session on every request)."""
        await RefreshToken.update({RefreshToken.revoked_at: now}).where(
            (RefreshToken.family_id == session_id) & RefreshToken.revoked_at.is_null()
        )
        await Session.update({Session.ended_at: now}).where(
            (Session.id == session_id) & Session.ended_at.is_null()
        )


async def _session_is_live(session_id: uuid.UUID) -> bool:
    row = await Session.select(Session.ended_at).where(Session.id == session_id).first()
    return row is not None and row["ended_at"] is None


def _validate_sign_up(email: str, password: str, name: str) -> None:
    problems = ProblemCollector()
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL_SHAPE.match(email):
        problems.add("email", "Enter a valid email address, such as ada@example.com.")
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.add("password", f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    elif len(password) > MAX_PASSWORD_LENGTH:
        problems.add("password", f"Use at most {MAX_PASSWORD_LENGTH} characters.")
    if not name:
        problems.add("name", "Enter a name.")
    elif len(name) > MAX_NAME_LENGTH:
        problems.add("name", f"Use at most {MAX_NAME_LENGTH} characters.")
    elif problem := invisible_problem(name, "name"):
        problems.add("name", problem)
    problems.raise_if_any()


def _email_taken() -> AlreadyExists:
    return AlreadyExists("An account with this email already exists.", field=("email",))


def _invalid_refresh_token() -> InvalidRefreshToken:
    return InvalidRefreshToken(
        "The refresh token is invalid, expired or already used. Log in again.",
        field=("refreshToken",),
    )


def _user_record(row: dict[str, Any]) -> UserRecord:
    return UserRecord(
        id=row["id"], email=row["email"], name=row["name"], created_at=row["created_at"]
    )
