"""Bearer authentication with an access token (JWT) issued at login."""

from __future__ import annotations

from app.clock import Clock
from app.security.guard import BearerRejected
from app.security.jwt import AccessTokenCodec, InvalidAccessToken
from app.security.principal import Principal


class AccessTokenAuthenticator:
    def __init__(self, codec: AccessTokenCodec, clock: Clock) -> None:
        self._codec = codec
        self._clock = clock

    def recognises(self, token: str) -> bool:
        # Every JWT starts with a base64url JSON header ("{"...) and has three dot-separated parts.
        return token.startswith("eyJ") and token.count(".") == 2

    async def authenticate(self, token: str, client_ip: str | None) -> Principal:
        try:
            claims = self._codec.decode(token, self._clock.now())
        except InvalidAccessToken as error:
            raise BearerRejected(f"access token: {error.reason}", "access_token") from None
        return Principal.user(claims.user_id, client_ip)
