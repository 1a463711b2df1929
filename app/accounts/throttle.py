"""A limit on logIn attempts, per account and per client address, shared by every server process.

Each attempt is written down (the email only as a keyed digest) before the password is checked,
and counted with the others of the window: past the account's or the address's limit the
attempt is refused with TOO_MANY_ATTEMPTS, without spending a password hash on it. Counting
attempts rather than failures means a burst of parallel guesses is counted too; a successful
login clears its account's attempts made from the same address.

The trade-off of any per-account limit: someone who knows an address can keep its owner from
logging in while they keep guessing (for at most one window after they stop). The per-address
limit is ten times larger, so people behind one NAT are not locked out by one another.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import uuid
from datetime import datetime

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
        """Write the attempt down; raise TooManyAttempts when it is one too many.

        Counted after the attempt commits, so parallel attempts all see each other (on
        PostgreSQL a burst may see more than the first ones did, and is refused a little
        earlier than its limit: never later).
        """
        now = self._clock.now()
        since = now - self._window
        account = self._digest(email)
        address = address_bucket(client_ip)
        async with db.transaction():
            await self._forget_some_expired(since)
            await LoginAttempt.insert(
                LoginAttempt(
                    id=uuid.uuid4(), email_digest=account, client_ip=address, attempted_at=now
                )
            )
        free_at = [
            instant
            for instant in (
                await self._free_at(LoginAttempt.email_digest == account, since, self._per_account),
                await self._free_at(LoginAttempt.client_ip == address, since, self._per_ip),
            )
            if instant is not None
        ]
        if free_at:
            raise _too_many(now, max(free_at))

    async def succeeded(self, email: str, client_ip: str | None) -> None:
        """Clear the account's attempts made from where it just logged in: the owner's typos.
        Attempts from elsewhere stay counted, or each of the owner's logins would hand whoever
        is guessing from another address a fresh allowance."""
        async with db.transaction():
            await LoginAttempt.delete().where(
                (LoginAttempt.email_digest == self._digest(email))
                & (LoginAttempt.client_ip == address_bucket(client_ip))
            )

    def _digest(self, email: str) -> str:
        return hmac.new(self._digest_key, email.encode(), hashlib.sha256).hexdigest()

    async def _free_at(self, who: Combinable, since: datetime, limit: int) -> datetime | None:
        """None within the limit; else when enough of the oldest attempts leave the window.

        Reads at most two rows, through the (who, time) index: a flood of attempts must not make
        counting them slower.
        """
        rows = (
            await LoginAttempt.select(LoginAttempt.attempted_at)
            .where(who & (LoginAttempt.attempted_at >= since))
            .order_by(LoginAttempt.attempted_at, ascending=False)
            .offset(limit - 1)
            .limit(2)
        )
        if len(rows) < 2:
            return None
        # rows[0] is the limit-th newest attempt: once it leaves the window, one more fits.
        return db.time_value(rows[0]["attempted_at"]) + self._window

    async def _forget_some_expired(self, since: datetime) -> None:
        """Attempts older than the window mean nothing any more. A bounded number per attempt,
        so that the end of a flood is not cleared inside one person's login."""
        expired = (
            LoginAttempt.select(LoginAttempt.id)
            .where(LoginAttempt.attempted_at < since)
            .limit(_EXPIRED_PER_ATTEMPT)
        )
        await LoginAttempt.delete().where(LoginAttempt.id.is_in(expired))


_EXPIRED_PER_ATTEMPT = 500


def address_bucket(client_ip: str | None) -> str:
    """What the per-address limit counts: the IPv4 address, the IPv6 /64 (one subscriber's
    usual allocation, which would otherwise hand out endless addresses), or one shared bucket
    for anything that is not an address (no client, or a forwarded header one cannot trust)."""
    try:
        address = ipaddress.ip_address(client_ip or "")
    except ValueError:
        return "unknown"
    if address.version == 6:
        mapped = address.ipv4_mapped
        if mapped is None:
            return str(ipaddress.ip_network(f"{address}/64", strict=False))
        address = mapped
    return str(address)


def _too_many(now: datetime, free_at: datetime) -> TooManyAttempts:
    minutes = max(1, math.ceil((free_at - now).total_seconds() / 60))
    return TooManyAttempts(
        f"Too many login attempts. Try again in {minutes} minute{'s' if minutes > 1 else ''}.",
        field=("email",),
    )
