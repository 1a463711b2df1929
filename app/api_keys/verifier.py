"""Authenticating a request with a project API key.

Order of checks, cheapest first: shape and checksum (no I/O), then one primary-key read, then a
constant-time digest comparison, then revocation and expiry against the injected clock. Reasons
are for logs and metrics only; the presented key never appears in them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from app import db
from app.api_keys.lookup import KeyLookup, StoredKey
from app.api_keys.policy import Budgets, KeyPolicy, Scope
from app.api_keys.tables import ApiKey
from app.clock import Clock, is_expired
from app.policies.enforcer import AccessRefused, check_access
from app.security import tokens
from app.security.guard import BearerRejected
from app.security.principal import Principal
from app.security.refusals import Refusal
from app.usage.recorder import UsageRecord

log = logging.getLogger(__name__)


RefusalHook = Callable[[UsageRecord], None]


class ApiKeyAuthenticator:
    def __init__(
        self, clock: Clock, last_use: LastUseRecorder, on_refused: RefusalHook | None = None
    ) -> None:
        self._clock = clock
        self._last_use = last_use
        self._lookup: KeyLookup | None = None
        # Told about requests refused for a key that exists (revoked, expired, wrong secret), so
        # a leaked or forgotten key still in use shows up in usage and alerts.
        self._on_refused = on_refused

    def attach(self, lookup: KeyLookup | None) -> None:
        """Use `lookup` from now on (set when the database starts, cleared when it stops)."""
        self._lookup = lookup

    def recognises(self, token: str) -> bool:
        return tokens.looks_like_project_key(token)

    async def authenticate(self, token: str, client_ip: str | None) -> Principal:
        """For the GraphQL API: the key must have the READ scope and allow the address."""
        verified = await self.verify(token, client_ip)
        refused = check_access(verified.policy, Scope.READ, client_ip)
        if refused is not None:
            raise AccessRefused(refused, verified.key_id, verified.project_id)
        return verified.principal

    async def verify(self, token: str, client_ip: str | None) -> VerifiedKey:
        """Like `authenticate`, with what the proxy needs besides the principal."""
        try:
            parts = tokens.parse_project_key(token)
        except tokens.MalformedProjectKey as error:
            raise BearerRejected(Refusal.MALFORMED, f"project key: {error}") from None
        if self._lookup is None:
            raise RuntimeError("project key lookup is not attached; is the app started?")
        stored = await self._lookup.find(parts.key_id)
        if stored is None:
            raise BearerRejected(Refusal.UNKNOWN, "project key")
        now = self._clock.now()
        refusal = _refusal(stored, parts.digest, now)
        if refusal is not None:
            self._refused(stored, parts.key_id, refusal, now, client_ip)
            raise BearerRejected(refusal, "project key")
        self._last_use.saw(parts.key_id, now, client_ip)
        return VerifiedKey(
            principal=Principal.project(stored.project_id, parts.key_id, client_ip),
            project_id=stored.project_id,
            key_id=parts.key_id,
            llm_keys_version=stored.llm_keys_version,
            policy=stored.policy,
            project_budgets=stored.project_budgets,
        )

    def _refused(
        self, stored: StoredKey, key_id: str, refusal: Refusal, now: datetime, client_ip: str | None
    ) -> None:
        if self._on_refused is None:
            return
        self._on_refused(
            UsageRecord(
                project_id=stored.project_id,
                api_key_id=key_id,
                endpoint="(authentication)",
                status=401,
                latency_ms=0,
                at=now,
                client_ip=client_ip,
                auth_failure=refusal.value,
            )
        )


def _refusal(stored: StoredKey, presented_digest: str, now: datetime) -> Refusal | None:
    """Why a key that exists is refused, or None when it is good."""
    if not hmac.compare_digest(stored.secret_digest, presented_digest):
        return Refusal.BAD_SECRET
    if stored.deleted_at is not None:
        return Refusal.REVOKED
    if is_expired(stored.expires_at, now):
        return Refusal.EXPIRED
    return None


@dataclass(frozen=True, slots=True)
class VerifiedKey:
    principal: Principal
    project_id: uuid.UUID
    key_id: str
    # The project's LLM-keys version at this instant (see app/proxy/model_routes.py).
    llm_keys_version: int
    policy: KeyPolicy
    project_budgets: Budgets


@dataclass
class _Use:
    at: datetime
    ip: str | None


class LastUseRecorder:
    """Keeps `lastUsedAt` / last IP without a database write per request.

    Uses are remembered in memory and written by a background task; each key is written at most
    once per `min_interval`. Whatever is pending is written on shutdown. Every serving process
    keeps its own: a write never moves a key's last use back to an earlier one another process
    wrote meanwhile.
    """

    def __init__(
        self,
        *,
        min_interval: timedelta = timedelta(minutes=1),
        flush_every: timedelta = timedelta(seconds=5),
    ) -> None:
        self._min_interval = min_interval
        self._flush_every = flush_every
        self._pending: dict[str, _Use] = {}
        self._written_at: dict[str, datetime] = {}
        # One flush at a time: a flush called while another is under way returns only once
        # what that one took is written too.
        self._flushing = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def saw(self, key_id: str, at: datetime, ip: str | None) -> None:
        written = self._written_at.get(key_id)
        if written is None or at - written >= self._min_interval:
            self._pending[key_id] = _Use(at=at, ip=ip)

    async def flush(self) -> int:
        """Write what is pending in one transaction; returns how many keys were written."""
        async with self._flushing:
            return await self._write_pending()

    async def _write_pending(self) -> int:
        pending, self._pending = self._pending, {}
        if not pending:
            return 0
        try:
            async with db.transaction():
                # In key order: other processes flushing the same keys then lock their rows in
                # the same order, and cannot deadlock with this one (PostgreSQL).
                for key_id, use in sorted(pending.items()):
                    await ApiKey.update(
                        {ApiKey.last_used_at: use.at, ApiKey.last_used_ip: use.ip}
                    ).where(
                        (ApiKey.id == key_id)
                        # A deleted key keeps the last use it had when it was deleted.
                        & ApiKey.deleted_at.is_null()
                        # Another process may have written a later use already.
                        & (ApiKey.last_used_at.is_null() | (ApiKey.last_used_at < use.at))
                    )
        except Exception:
            for key_id, use in pending.items():
                self._pending.setdefault(key_id, use)  # a newer use seen meanwhile wins
            raise
        for key_id, use in pending.items():
            self._written_at[key_id] = use.at
        self._forget_before(max(use.at for use in pending.values()) - self._min_interval)
        return len(pending)

    def _forget_before(self, horizon: datetime) -> None:
        # Keys written before the horizon would be written again anyway; keep memory bounded.
        stale = [key_id for key_id, at in self._written_at.items() if at < horizon]
        for key_id in stale:
            del self._written_at[key_id]

    def start(self) -> None:
        self._stopping = asyncio.Event()
        self._flushing = asyncio.Lock()
        self._task = asyncio.create_task(self._run(), name="api-key-last-use")

    async def stop(self) -> None:
        """Let a flush under way finish (a cancelled one would lose what it took), then write
        the rest."""
        if self._task is not None:
            self._stopping.set()
            await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._flush_every.total_seconds()):
                    await self._stopping.wait()
            if self._stopping.is_set():
                return
            try:
                await self.flush()
            except Exception:
                # The database may be briefly unavailable; keep serving and retry next round.
                log.exception("could not record API key last use")
