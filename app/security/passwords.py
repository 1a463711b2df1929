"""Password hashing with Argon2id through passlib's CryptContext.

Parameters follow OWASP's minimum for Argon2id (19 MiB, 2 iterations, 1 lane). Hashing takes tens of
milliseconds of CPU, so it runs in a worker thread to keep the event loop free.
"""

from __future__ import annotations

import asyncio

from passlib.context import CryptContext

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256


class PasswordHasher:
    def __init__(self, *, memory_kib: int = 19_456, time_cost: int = 2) -> None:
        self._context = CryptContext(
            schemes=["argon2"],
            deprecated="auto",
            argon2__type="ID",
            argon2__memory_cost=memory_kib,
            argon2__time_cost=time_cost,
            argon2__parallelism=1,
        )
        # Verified against when the email is unknown, so both failures cost the same time.
        self._decoy_hash: str = self._context.hash("decoy password, never matches")

    async def hash(self, password: str) -> str:
        result: str = await asyncio.to_thread(self._context.hash, password)
        return result

    async def verify(self, password: str, password_hash: str | None) -> bool:
        """Constant-ish time whether or not an account exists (`password_hash` None)."""
        target = password_hash if password_hash is not None else self._decoy_hash
        matches: bool = await asyncio.to_thread(self._context.verify, password, target)
        return matches and password_hash is not None
