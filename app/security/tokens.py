"""Opaque tokens: generation and the digest we store instead of the token.

Tokens here carry at least 256 random bits, so a fast digest (SHA-256) is as safe as a slow KDF
and costs microseconds instead of tens of milliseconds per request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

REFRESH_TOKEN_PREFIX = "tlr_"


def new_refresh_token() -> str:
    return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """Hex SHA-256 of a token; what the database keeps."""
    return hashlib.sha256(token.encode()).hexdigest()


def digests_match(presented_digest: str, stored_digest: str) -> bool:
    return hmac.compare_digest(presented_digest, stored_digest)
