"""Opaque tokens: generation and the digest we store instead of the token.

Tokens here carry at least 256 random bits, so a fast digest (SHA-256) is as safe as a slow KDF
and costs microseconds instead of tens of milliseconds per request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import zlib
from dataclasses import dataclass

REFRESH_TOKEN_PREFIX = "tlr_"


def new_refresh_token() -> str:
    return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """Hex SHA-256 of a token; what the database keeps."""
    return hashlib.sha256(token.encode()).hexdigest()


def digests_match(presented_digest: str, stored_digest: str) -> bool:
    return hmac.compare_digest(presented_digest, stored_digest)


# --- Project API keys -------------------------------------------------------------------------
#
#   tlx_<key id: 12 base62>_<secret: 32 base62><checksum: 6 base62>
#
# The key id makes verification one primary-key lookup; the secret carries 190 random bits; the
# checksum (CRC32 of everything before it, base62, as GitHub's tokens do) lets servers and secret
# scanners reject a mistyped or made-up key without a database. `_` keeps the whole key one
# double-click word.

PROJECT_KEY_PREFIX = "tlx_"
KEY_ID_LENGTH = 12
SECRET_LENGTH = 32
CHECKSUM_LENGTH = 6
PROJECT_KEY_LENGTH = len(PROJECT_KEY_PREFIX) + KEY_ID_LENGTH + 1 + SECRET_LENGTH + CHECKSUM_LENGTH
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_BASE62_SET = frozenset(_BASE62)


class MalformedProjectKey(ValueError):
    """Not a project key: wrong length, prefix, alphabet or checksum."""


@dataclass(frozen=True)
class ProjectKeyParts:
    key_id: str
    digest: str


def _random_base62(length: int) -> str:
    return "".join(secrets.choice(_BASE62) for _ in range(length))


def _base62_checksum(body: str) -> str:
    value = zlib.crc32(body.encode())
    digits = []
    for _ in range(CHECKSUM_LENGTH):
        value, remainder = divmod(value, 62)
        digits.append(_BASE62[remainder])
    return "".join(reversed(digits))


def new_key_id() -> str:
    return _random_base62(KEY_ID_LENGTH)


def new_project_key(key_id: str) -> str:
    body = f"{PROJECT_KEY_PREFIX}{key_id}_{_random_base62(SECRET_LENGTH)}"
    return body + _base62_checksum(body)


def key_start(key_id: str) -> str:
    """A non-secret label that tells keys apart in lists: the prefix and 4 id characters."""
    return f"{PROJECT_KEY_PREFIX}{key_id[:4]}"


def looks_like_project_key(token: str) -> bool:
    return token.startswith(PROJECT_KEY_PREFIX)


def parse_project_key(token: str) -> ProjectKeyParts:
    """Check shape and checksum offline; return the key id and the digest to compare."""
    if len(token) != PROJECT_KEY_LENGTH or not token.startswith(PROJECT_KEY_PREFIX):
        raise MalformedProjectKey("wrong length or prefix")
    key_id = token[len(PROJECT_KEY_PREFIX) : len(PROJECT_KEY_PREFIX) + KEY_ID_LENGTH]
    separator = token[len(PROJECT_KEY_PREFIX) + KEY_ID_LENGTH]
    rest = token[len(PROJECT_KEY_PREFIX) + KEY_ID_LENGTH + 1 :]
    if separator != "_" or not _BASE62_SET.issuperset(key_id) or not _BASE62_SET.issuperset(rest):
        raise MalformedProjectKey("not base62")
    body, checksum = token[:-CHECKSUM_LENGTH], token[-CHECKSUM_LENGTH:]
    if not hmac.compare_digest(_base62_checksum(body), checksum):
        raise MalformedProjectKey("checksum mismatch")
    return ProjectKeyParts(key_id=key_id, digest=digest(token))
