"""Why a presented credential is refused: one closed set for logs, metrics, usage and the proxy.

Each reason is an internal fact about the credential; the caller always gets the same public
message (`PUBLIC_MESSAGE`), so a refusal tells someone guessing nothing about which check failed.

    MISSING         no credential where one is required (the proxy)
    MALFORMED       not shaped like anything we issue: wrong scheme, prefix, length or checksum
    UNKNOWN         shaped like a project key, but no key has its id
    BAD_SECRET      a real key id with the wrong secret
    REVOKED         a deleted project key
    EXPIRED         a project key or an access token past its expiry
    INVALID_TOKEN   an access token whose signature, issuer or claims do not check out
    SESSION_ENDED   an access token of a session that ended (log out, a refresh token used twice)
                    or whose user no longer exists
"""

from __future__ import annotations

from enum import StrEnum

PUBLIC_MESSAGE = "Invalid, expired or revoked credentials."


class Refusal(StrEnum):
    MISSING = "missing"
    MALFORMED = "malformed"
    UNKNOWN = "unknown"
    BAD_SECRET = "bad_secret"
    REVOKED = "revoked"
    EXPIRED = "expired"
    INVALID_TOKEN = "invalid_token"
    SESSION_ENDED = "session_ended"


# A key that once worked, presented again: a sign it is still deployed somewhere. (Members are
# str: a usage record's `auth_failure` text is tested against it directly.)
NO_LONGER_VALID: frozenset[str] = frozenset({Refusal.REVOKED, Refusal.EXPIRED})
