"""The services of one running app, built once from settings and shared by every request."""

from __future__ import annotations

from dataclasses import dataclass

from app.accounts.authenticator import AccessTokenAuthenticator
from app.accounts.service import AccountService
from app.audit.service import AuditService
from app.clock import Clock
from app.projects.service import ProjectService
from app.security.guard import BearerGuard
from app.security.jwt import AccessTokenCodec
from app.security.passwords import PasswordHasher
from app.settings import Settings


@dataclass
class Services:
    settings: Settings
    clock: Clock
    guard: BearerGuard
    audit: AuditService
    accounts: AccountService
    projects: ProjectService

    @classmethod
    def build(
        cls, settings: Settings, clock: Clock, hasher: PasswordHasher | None = None
    ) -> Services:
        access_tokens = AccessTokenCodec(settings.secret_key, settings.auth.access_token_ttl)
        audit = AuditService(clock)
        accounts = AccountService(
            clock=clock,
            hasher=hasher or PasswordHasher(),
            access_tokens=access_tokens,
            refresh_token_ttl=settings.auth.refresh_token_ttl,
            audit=audit,
        )
        return cls(
            settings=settings,
            clock=clock,
            guard=BearerGuard([AccessTokenAuthenticator(access_tokens, clock)]),
            audit=audit,
            accounts=accounts,
            projects=ProjectService(clock=clock, accounts=accounts, audit=audit),
        )
