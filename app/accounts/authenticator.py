"""Bearer authentication with an access token (JWT) issued at login.

A token is good while its signature, claims and expiry check out and its session lives: the
session is read on every request (one primary-key read, see `sessions.py`), so logging out or
reusing a refresh token ends the session's access tokens at once, on every process.
"""

from __future__ import annotations

from app.accounts.sessions import SessionLookup
from app.clock import Clock
from app.security.guard import BearerRejected
from app.security.jwt import AccessTokenCodec, InvalidAccessToken, TokenExpired
from app.security.principal import Principal
from app.security.refusals import Refusal


class AccessTokenAuthenticator:
    def __init__(self, codec: AccessTokenCodec, clock: Clock) -> None:
        self._codec = codec
        self._clock = clock
        self._sessions: SessionLookup | None = None

    def attach(self, sessions: SessionLookup | None) -> None:
        """Use `sessions` from now on (set when the database starts, cleared when it stops)."""
        self._sessions = sessions

    def recognises(self, token: str) -> bool:
        # Every JWT starts with a base64url JSON header ("{"...) and has three dot-separated parts.
        return token.startswith("eyJ") and token.count(".") == 2

    async def authenticate(self, token: str, client_ip: str | None) -> Principal:
        try:
            claims = self._codec.decode(token, self._clock.now())
        except TokenExpired:
            raise BearerRejected(Refusal.EXPIRED, "access token") from None
        except InvalidAccessToken as error:
            raise BearerRejected(Refusal.INVALID_TOKEN, f"access token: {error.reason}") from None
        if self._sessions is None:
            raise RuntimeError("session lookup is not attached; is the app started?")
        session = await self._sessions.find(claims.session_id)
        if session is None or session.user_id != claims.user_id or session.ended_at is not None:
            raise BearerRejected(Refusal.SESSION_ENDED, "access token")
        return Principal.user(claims.user_id, client_ip)
