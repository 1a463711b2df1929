"""The bearer guard: turns an Authorization header into a Principal, or rejects it.

Each kind of credential registers an `Authenticator` that recognises its own tokens by shape
(a JWT, a project key prefix, ...). A token no authenticator recognises, or one its authenticator
rejects, is refused with `BearerRejected`; the HTTP edge turns that into 401 before any resolver
runs. Reasons are for logs and metrics; the presented token never appears in them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from app.security.principal import Principal
from app.security.refusals import Refusal

MAX_BEARER_LENGTH = 4096


class BearerRejected(Exception):
    """A presented credential is refused. `refusal` says why (metrics, usage); `detail` adds
    what the log may say about it, never the credential itself."""

    def __init__(self, refusal: Refusal, detail: str = "") -> None:
        self.refusal = refusal
        self.reason = f"{refusal.value}: {detail}" if detail else refusal.value
        super().__init__(self.reason)


class Authenticator(Protocol):
    def recognises(self, token: str) -> bool: ...

    async def authenticate(self, token: str, client_ip: str | None) -> Principal:
        """Return the principal, or raise BearerRejected."""
        ...


class BearerGuard:
    def __init__(self, authenticators: Sequence[Authenticator]) -> None:
        self._authenticators = list(authenticators)

    async def principal_for(self, authorization: str | None, client_ip: str | None) -> Principal:
        if authorization is None:
            return Principal.anonymous(client_ip)
        token = bearer_token(authorization)
        return await self.authenticate_token(token, client_ip)

    async def authenticate_token(self, token: str, client_ip: str | None) -> Principal:
        for authenticator in self._authenticators:
            if authenticator.recognises(token):
                return await authenticator.authenticate(token, client_ip)
        raise BearerRejected(Refusal.MALFORMED, "no authenticator recognises the token")


def bearer_token(authorization: str) -> str:
    """The token of an `Authorization: Bearer <token>` header; anything else is rejected."""
    if len(authorization) > MAX_BEARER_LENGTH:
        raise BearerRejected(Refusal.MALFORMED, "header too long")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer":
        raise BearerRejected(Refusal.MALFORMED, "not a bearer credential")
    if not token:
        raise BearerRejected(Refusal.MALFORMED, "empty bearer token")
    return token
