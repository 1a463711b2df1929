"""The services of one running app, built once from settings and shared by every request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.accounts.authenticator import AccessTokenAuthenticator
from app.accounts.service import AccountService
from app.accounts.throttle import LoginThrottle
from app.api_keys.service import ApiKeyService
from app.api_keys.verifier import ApiKeyAuthenticator, LastUseRecorder
from app.audit.service import AuditService
from app.clock import Clock
from app.leaks.github import GitHubKeys
from app.leaks.service import LeakService
from app.llm_keys.catalog import ModelCatalog
from app.llm_keys.service import LlmKeyService
from app.observability import Metrics
from app.policies.counters import Counters, MemoryCounters
from app.policies.enforcer import PolicyEnforcer
from app.policies.shared_counters import RedisCounters
from app.projects.access import AccessControl
from app.projects.service import ProjectService
from app.proxy.model_routes import RouteCache
from app.proxy.upstream import Upstream
from app.security.guard import BearerGuard
from app.security.jwt import AccessTokenCodec
from app.security.passwords import PasswordHasher
from app.settings import Settings, UsageWriterKind
from app.usage.ingest import UsageIngest
from app.usage.recorder import UsageRecorder
from app.usage.retention import RawEventRetention, forget_raw_events
from app.usage.service import UsageService, usage_since
from app.usage.writer import ProcessWriter, WriterConfig
from app.webhooks.dispatcher import WebhookDispatcher
from app.webhooks.events import Outbox
from app.webhooks.notices import Notices
from app.webhooks.service import WebhookService


@dataclass
class Services:
    settings: Settings
    clock: Clock
    guard: BearerGuard
    access: AccessControl
    audit: AuditService
    accounts: AccountService
    projects: ProjectService
    api_keys: ApiKeyService
    api_key_authenticator: ApiKeyAuthenticator
    access_token_authenticator: AccessTokenAuthenticator
    last_use: LastUseRecorder
    llm_keys: LlmKeyService
    routes: RouteCache
    upstream: Upstream
    # Takes a record per request and writes them in batches, off the request path.
    usage_recorder: UsageRecorder
    # Set when a child process writes the usage batches; None when this process does.
    usage_writer: ProcessWriter | None
    # Reads usage: series, summaries, addresses, alerts.
    usage: UsageService
    # Key policies: scopes, allow-lists, rate limits and budgets.
    policies: PolicyEnforcer
    metrics: Metrics
    # Where changes leave their webhook events, in their own transaction.
    outbox: Outbox
    webhooks: WebhookService
    # Sends the queued deliveries, off the request path.
    webhook_dispatcher: WebhookDispatcher
    # Keys found in public: the scanner's and GitHub's reports.
    leaks: LeakService
    github_keys: GitHubKeys

    @classmethod
    def build(
        cls, settings: Settings, clock: Clock, hasher: PasswordHasher | None = None
    ) -> Services:
        access_tokens = AccessTokenCodec(settings.secret_key, settings.auth.access_token_ttl)
        access = AccessControl()
        audit = AuditService(clock, access)
        outbox = Outbox()
        accounts = AccountService(
            clock=clock,
            hasher=hasher or PasswordHasher(),
            access_tokens=access_tokens,
            refresh_token_ttl=settings.auth.refresh_token_ttl,
            audit=audit,
            throttle=LoginThrottle(settings.auth, clock, settings.secret_key),
        )
        projects = ProjectService(clock=clock, access=access, accounts=accounts, audit=audit)
        llm_keys = LlmKeyService(
            clock=clock,
            access=access,
            projects=projects,
            audit=audit,
            keyring=settings.keyring,
            catalog=ModelCatalog.load(settings.model_catalog_file),
            outbox=outbox,
        )
        api_keys = ApiKeyService(
            clock=clock,
            access=access,
            audit=audit,
            models=llm_keys.project_model_ids,
            outbox=outbox,
        )
        last_use = LastUseRecorder(flush_every=settings.api_keys.last_use_flush)
        # Also the recorder's hourly housekeeping (raw events past retention go), which runs
        # here whichever process writes the batches: one chunked delete an hour, by whichever
        # serving process holds the retention lease.
        ingest = UsageIngest(settings.monitoring, outbox)
        retention = settings.usage.raw_retention
        usage_writer = (
            ProcessWriter(WriterConfig.of(settings))
            if settings.usage.writer is UsageWriterKind.PROCESS
            else None
        )
        recorder = UsageRecorder(
            usage_writer or ingest.write,
            max_pending=settings.usage.max_pending,
            flush_every=settings.usage.flush_every,
            enabled=settings.usage.enabled,
            housekeeping=RawEventRetention(
                clock, lambda now: forget_raw_events(now, retention)
            ).run,
        )
        api_key_authenticator = ApiKeyAuthenticator(clock, last_use, on_refused=recorder.record)
        access_token_authenticator = AccessTokenAuthenticator(access_tokens, clock)
        webhooks = WebhookService(
            clock=clock,
            access=access,
            audit=audit,
            keyring=settings.keyring,
            outbox=outbox,
            config=settings.webhooks,
        )
        dispatcher = WebhookDispatcher(
            clock=clock,
            keyring=settings.keyring,
            config=settings.webhooks,
            audit=audit,
            chores=[Notices(clock, settings.monitoring, outbox)],
        )
        outbox.on_queued(dispatcher.wake)
        counters = _policy_counters(settings)
        metrics = Metrics()
        metrics.watch_recorder(recorder, usage_writer)
        metrics.watch_counters(counters)
        return cls(
            settings=settings,
            clock=clock,
            guard=BearerGuard([access_token_authenticator, api_key_authenticator]),
            audit=audit,
            accounts=accounts,
            projects=projects,
            access=access,
            api_keys=api_keys,
            api_key_authenticator=api_key_authenticator,
            access_token_authenticator=access_token_authenticator,
            last_use=last_use,
            llm_keys=llm_keys,
            routes=RouteCache(llm_keys),
            upstream=Upstream(settings.proxy),
            usage_recorder=recorder,
            usage_writer=usage_writer,
            usage=UsageService(
                clock, settings.monitoring, access=access, api_keys=api_keys, audit=audit
            ),
            policies=PolicyEnforcer(counters, clock, _recorded_usage),
            metrics=metrics,
            outbox=outbox,
            webhooks=webhooks,
            webhook_dispatcher=dispatcher,
            leaks=LeakService(clock=clock, audit=audit, outbox=outbox),
            github_keys=GitHubKeys(settings.leaks),
        )


def _policy_counters(settings: Settings) -> Counters:
    if settings.redis_url is None:
        return MemoryCounters()
    return RedisCounters(settings.redis_url.reveal())


async def _recorded_usage(owner_kind: str, owner_id: str, start: datetime) -> tuple[int, int]:
    used = await usage_since(owner_kind, owner_id, start)
    return used.tokens, used.cost_micros
