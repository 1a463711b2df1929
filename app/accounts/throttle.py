"""A limit on logIn attempts, per account and per client address, shared by every server process.

Each attempt is written down (the email only as a keyed digest) before the password is checked,
and counted with the others of the window: past the account's or the address's limit the
attempt is refused with TOO_MANY_ATTEMPTS, without spending a password hash on it. Counting
attempts rather than failures means a burst of parallel guesses is counted too; a successful
login clears its account's attempts.

The trade-off of any per-account limit: someone who knows an address can keep its owner from
logging in while they keep guessing (for at most one window after they stop). The per-address
limit is ten times larger, so people behind one NAT are not locked out by one another.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import uuid
from datetime import datetime, timedelta

from piccolo.custom_types import Combinable

from app import db
from app.accounts.tables import LoginAttempt
from app.clock import Clock
from app.errors import TooManyAttempts
from app.settings import AuthConfig, Secret


class LoginThrottle:
    def __init__(self, config: AuthConfig, clock: Clock, secret_key: Secret) -> None:
        self._window = config.login_window
        self._per_account = config.login_attempts_per_account
        self._per_ip = config.login_attempts_per_ip
        self._clock = clock
        # Its own key, derived from the server secret: digests of guessable email addresses
        # must not be reversible by hashing a list of addresses.
        self._digest_key = hashlib.sha256(
            b"traylinx/login-attempts|" + secret_key.reveal().encode()
        ).digest()

    async def attempt(self, email: str, client_ip: str | None) -> None:
        """Write the attempt down; raise TooManyAttempts when it is one too many."""
        now = self._clock.now()
        since = now - self._window
        account = self._digest(email)
        async with db.transaction():
            # Attempts older than the window mean nothing any more.
            await LoginAttempt.delete().where(LoginAttempt.attempted_at < since)
            await LoginAttempt.insert(
                LoginAttempt(
                    id=uuid.uuid4(), email_digest=account, client_ip=client_ip, attempted_at=now
                )
            )
        by_account = await self._recent(LoginAttempt.email_digest == account, since)
        by_address = (
            await self._recent(LoginAttempt.client_ip == client_ip, since) if client_ip else []
        )
        if len(by_account) > self._per_account:
            raise _too_many(now, by_account, self._per_account, self._window)
        if len(by_address) > self._per_ip:
            raise _too_many(now, by_address, self._per_ip, self._window)

    async def succeeded(self, email: str) -> None:
        async with db.transaction():
            await LoginAttempt.delete().where(LoginAttempt.email_digest == self._digest(email))

    def _digest(self, email: str) -> str:
        return hmac.new(self._digest_key, email.encode(), hashlib.sha256).hexdigest()

    async def _recent(self, who: Combinable, since: datetime) -> list[datetime]:
        rows = (
            await LoginAttempt.select(LoginAttempt.attempted_at)
            .where(who & (LoginAttempt.attempted_at >= since))
            .order_by(LoginAttempt.attempted_at)
        )
        return [db.time_value(row["attempted_at"]) for row in rows]


def _too_many(
    now: datetime, attempts: list[datetime], limit: int, window: timedelta
) -> TooManyAttempts:
    # Allowed again once enough of the oldest attempts have left the window.
    free_at = attempts[len(attempts) - limit] + window
    minutes = max(1, math.ceil((free_at - now).total_seconds() / 60))
    return TooManyAttempts(
        f"Too many login attempts. Try again in {minutes} minute{'s' if minutes > 1 else ''}.",
        field=("email",),
    )
