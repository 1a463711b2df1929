"""Access tokens: short-lived HS256 JWTs naming the user.

The signing key is derived from the service secret (HMAC with a fixed label), so the raw secret is
never used directly as a key and other uses of it stay independent.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from app.clock import is_expired
from app.settings import Secret

ALGORITHM = "HS256"
ISSUER = "traylinx-keys"
TOKEN_TYPE = "access"
# Tolerated difference between the clocks of two servers sharing the secret.
_CLOCK_SKEW = 60
# Year 9999: beyond it a timestamp is no time at all.
_LATEST_TIMESTAMP = 253_402_300_799


class InvalidAccessToken(Exception):
    """The token is not one we issued, is expired or is malformed. The reason is for logs only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokenExpired(InvalidAccessToken):
    def __init__(self) -> None:
        super().__init__("expired")


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    expires_at: datetime


class AccessTokenCodec:
    def __init__(self, secret: Secret, ttl: timedelta) -> None:
        self._key = hmac.new(
            secret.reveal().encode(), b"traylinx/access-token/v1", hashlib.sha256
        ).digest()
        self.ttl = ttl

    def __repr__(self) -> str:
        return f"AccessTokenCodec(ttl={self.ttl!r})"

    def issue(
        self, user_id: uuid.UUID, session_id: uuid.UUID, now: datetime
    ) -> tuple[str, datetime]:
        expires_at = now + self.ttl
        claims = {
            "sub": str(user_id),
            "sid": str(session_id),
            "iss": ISSUER,
            "typ": TOKEN_TYPE,
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM), expires_at

    def decode(self, token: str, now: datetime) -> AccessClaims:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],  # a fixed list: `alg: none` and key confusion fail here
                issuer=ISSUER,
                options={
                    "require": ["sub", "sid", "exp", "iat", "iss", "typ"],
                    # Time claims are checked below against our clock, not the system's.
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as error:
            raise InvalidAccessToken(type(error).__name__) from None
        # Expiry is checked against our clock, not the system's, so tests can cross it.
        if claims.get("typ") != TOKEN_TYPE:
            raise InvalidAccessToken("wrong token type")
        if not isinstance(claims["exp"], int) or abs(claims["exp"]) > _LATEST_TIMESTAMP:
            raise InvalidAccessToken("bad expiry")
        expires_at = datetime.fromtimestamp(claims["exp"], UTC)
        if is_expired(expires_at, now):
            raise TokenExpired
        if not isinstance(claims["iat"], int) or claims["iat"] > now.timestamp() + _CLOCK_SKEW:
            raise InvalidAccessToken("issued in the future")
        try:
            user_id = uuid.UUID(str(claims["sub"]))
            session_id = uuid.UUID(str(claims["sid"]))
        except ValueError:
            raise InvalidAccessToken("bad subject or session") from None
        return AccessClaims(
            user_id=user_id,
            session_id=session_id,
            expires_at=expires_at,
        )
