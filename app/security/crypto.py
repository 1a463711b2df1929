"""Encryption at rest for provider secrets: AES-256-GCM in a versioned envelope, with a keyring.

    v1.<key id>.<base64url(nonce | ciphertext | tag)>

The associated data binds a ciphertext to the row it belongs to (the caller passes e.g. project,
provider and row id), so a ciphertext copied into another row fails to decrypt instead of handing
that row someone else's secret. Every encryption uses a fresh 96-bit random nonce. The keyring
lists keys newest first: new ciphertexts use the newest, old ones stay readable until
`rotate-encryption-key` has re-encrypted them.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ENVELOPE_VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class CryptoError(Exception):
    """Base of encryption failures; messages name key ids, never key material or plaintext."""


class MissingEncryptionKey(CryptoError):
    def __init__(self, key_id: str) -> None:
        super().__init__(f"encryption key {key_id!r} is not in the keyring")
        self.key_id = key_id


class DecryptionFailed(CryptoError):
    """Tampered, truncated, or bound to another row."""


class KeyringFormatError(CryptoError, ValueError):
    pass


@dataclass(frozen=True)
class EncryptionKey:
    id: str
    material: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not _KEY_ID.match(self.id):
            raise KeyringFormatError(
                f"encryption key id {self.id!r} must be 1-32 of A-Z a-z 0-9 _ -"
            )
        if len(self.material) != KEY_BYTES:
            raise KeyringFormatError(f"encryption key {self.id!r} must be {KEY_BYTES} bytes")

    @classmethod
    def generate(cls, key_id: str) -> EncryptionKey:
        return cls(id=key_id, material=secrets.token_bytes(KEY_BYTES))

    def encode(self) -> str:
        return f"{self.id}:{base64.urlsafe_b64encode(self.material).decode()}"


class Keyring:
    def __init__(self, keys: Sequence[EncryptionKey]) -> None:
        if not keys:
            raise KeyringFormatError("the keyring needs at least one key")
        ids = [key.id for key in keys]
        if len(set(ids)) != len(ids):
            raise KeyringFormatError("encryption key ids must be unique")
        self._keys = {key.id: AESGCM(key.material) for key in keys}
        self.ids = tuple(ids)

    def __repr__(self) -> str:
        return f"Keyring(ids={self.ids!r})"

    @property
    def newest_id(self) -> str:
        return self.ids[0]

    @classmethod
    def parse(cls, text: str) -> Keyring:
        """`id:base64key` entries separated by commas or newlines, newest first."""
        keys = []
        for entry in re.split(r"[,\n]", text):
            entry = entry.strip()
            if not entry:
                continue
            key_id, separator, encoded = entry.partition(":")
            if not separator:
                raise KeyringFormatError("each encryption key must look like id:base64key")
            try:
                material = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            except (ValueError, binascii.Error):
                raise KeyringFormatError(f"encryption key {key_id!r} is not base64") from None
            keys.append(EncryptionKey(id=key_id.strip(), material=material))
        return cls(keys)

    def encrypt(self, plaintext: str, associated_data: bytes) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self.newest_id].encrypt(nonce, plaintext.encode(), associated_data)
        payload = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{ENVELOPE_VERSION}.{self.newest_id}.{payload}"

    def decrypt(self, envelope: str, associated_data: bytes) -> str:
        version, key_id, payload = _split(envelope)
        if version != ENVELOPE_VERSION:
            raise DecryptionFailed(f"unknown envelope version {version!r}")
        aead = self._keys.get(key_id)
        if aead is None:
            raise MissingEncryptionKey(key_id)
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated_data).decode()
        except (InvalidTag, ValueError, binascii.Error):
            raise DecryptionFailed("ciphertext does not verify for this row") from None


def envelope_key_id(envelope: str) -> str:
    return _split(envelope)[1]


def _split(envelope: str) -> tuple[str, str, str]:
    parts = envelope.split(".")
    if len(parts) != 3:
        raise DecryptionFailed("not an encryption envelope")
    return parts[0], parts[1], parts[2]
