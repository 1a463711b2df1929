"""Every service entry point that reads or writes a project's data decides itself whether the
caller may: called directly, as an outsider, each one refuses (NotFound, or nothing found).

A new public entry point fails `test_every_entry_point_is_checked_here` until it is added below,
to the outsider calls or, with the reason, to the entry points that take no caller.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar

from app.api_keys.policy import Budgets, BudgetsInput, PolicyInput
from app.api_keys.service import ApiKeyService
from app.audit.service import AuditService
from app.errors import NotFound
from app.leaks.service import LeakService
from app.llm_keys.catalog import Provider
from app.llm_keys.service import KeyChanges, LlmKeyService
from app.pagination import PageRequest
from app.projects.access import Role
from app.projects.service import ProjectService
from app.security.principal import Principal
from app.services import Services
from app.usage.recorder import UsageRecord
from app.usage.service import Granularity, UsageService
from app.usage.tables import SecurityAlert
from app.webhooks.events import WebhookEvent
from app.webhooks.service import WebhookChanges, WebhookService
from tests.graphql_client import GraphQLClient
from tests.helpers import add_llm_key, create_key, create_project, sign_up

SERVICES = (
    ProjectService,
    ApiKeyService,
    LlmKeyService,
    UsageService,
    AuditService,
    WebhookService,
    LeakService,
)

# Entry points that take no caller, and why that is safe.
NO_CALLER = {
    "ProjectService.create": "creates the caller's own project: nothing of anyone else's",
    "ProjectService.projects_of": "lists the caller's own projects only",
    "ProjectService.mark_llm_keys_changed": "runs inside a checked write's transaction",
    "LlmKeyService.check_keyring": "start-up check of the keyring, no project data returned",
    "LlmKeyService.keys_with_secrets": "the proxy's routes, for the project of a verified key",
    "LlmKeyService.reveal_secret": "operators' check from a shell; nothing calls it per request",
    "LlmKeyService.rotate_encryption": "the rotate-encryption-key command",
    "AuditService.record": "joins the transaction of a checked change",
    "WebhookService.check_keyring": "start-up check of the keyring, no project data returned",
    "WebhookService.rotate_encryption": "the rotate-encryption-key command",
    "LeakService.statuses": "the scan command, run by an operator; answers for the keys given",
    "LeakService.report": "the scan command, and GitHub's reports once their signature holds",
}


@dataclass
class Elsewhere:
    """A project the outsider has nothing to do with, with one of everything in it."""

    project_id: uuid.UUID
    key_id: str
    llm_key_id: uuid.UUID
    alert_id: uuid.UUID
    member_id: uuid.UUID
    webhook_id: uuid.UUID


@pytest.fixture
async def elsewhere(app: Litestar, gql: GraphQLClient) -> Elsewhere:
    owner = await sign_up(gql)
    member = await sign_up(gql)
    project = await create_project(gql, owner)
    key = await create_key(gql, owner, project["id"])
    llm_key = await add_llm_key(gql, owner, project["id"])
    await gql.execute(
        "mutation($i: AddProjectMemberInput!) { addProjectMember(input: $i) { userErrors { code } } }",  # noqa: E501
        {"i": {"projectId": project["id"], "email": member.email, "role": "MEMBER"}},
        owner.access_token,
    )
    services: Services = app.state.services
    services.usage_recorder.record(
        UsageRecord(
            project_id=uuid.UUID(project["id"]),
            api_key_id=key["id"],
            endpoint="/graphql",
            status=401,
            latency_ms=1,
            at=services.clock.now(),
            auth_failure="revoked",
        )
    )
    await services.usage_recorder.flush()
    alert = await SecurityAlert.select(SecurityAlert.id).first()
    assert alert is not None
    webhook = await services.webhooks.add(
        Principal.user(uuid.UUID(owner.user_id)),
        project_id=uuid.UUID(project["id"]),
        url="https://hooks.example.com/traylinx",
        events=[WebhookEvent.API_KEY_CREATED],
    )
    return Elsewhere(
        project_id=uuid.UUID(project["id"]),
        key_id=key["id"],
        llm_key_id=uuid.UUID(llm_key["id"]),
        alert_id=alert["id"],
        member_id=uuid.UUID(member.user_id),
        webhook_id=webhook.webhook.id,
    )


Call = Callable[[Services, Principal, Elsewhere], Awaitable[Any]]
PAGE = PageRequest(first=10, after=None)

# Each entry point, called by an outsider, and what it must answer: NotFound, or "nothing".
OUTSIDER_CALLS: dict[str, tuple[Call, str]] = {
    "ProjectService.project": (lambda s, p, e: s.projects.project(p, e.project_id), "nothing"),
    "ProjectService.members": (
        lambda s, p, e: s.projects.members(p, e.project_id, PAGE),
        "refused",
    ),
    "ProjectService.add_member": (
        lambda s, p, e: s.projects.add_member(
            p, project_id=e.project_id, email="x@example.com", role=Role.ADMIN
        ),
        "refused",
    ),
    "ProjectService.remove_member": (
        lambda s, p, e: s.projects.remove_member(p, project_id=e.project_id, user_id=e.member_id),
        "refused",
    ),
    "ProjectService.update_member_role": (
        lambda s, p, e: s.projects.update_member_role(
            p, project_id=e.project_id, user_id=e.member_id, role=Role.OWNER
        ),
        "refused",
    ),
    "ApiKeyService.create": (
        lambda s, p, e: s.api_keys.create(p, project_id=e.project_id, note="x", expires_at=None),
        "refused",
    ),
    "ApiKeyService.update_note": (
        lambda s, p, e: s.api_keys.update_note(p, key_id=e.key_id, note="mine now"),
        "refused",
    ),
    "ApiKeyService.delete": (lambda s, p, e: s.api_keys.delete(p, key_id=e.key_id), "refused"),
    "ApiKeyService.rotate": (
        lambda s, p, e: s.api_keys.rotate(p, key_id=e.key_id, grace_period=timedelta(0)),
        "refused",
    ),
    "ApiKeyService.update_policy": (
        lambda s, p, e: s.api_keys.update_policy(p, key_id=e.key_id, policy=PolicyInput()),
        "refused",
    ),
    "ProjectService.budgets": (lambda s, p, e: s.projects.budgets(p, e.project_id), "refused"),
    "ProjectService.update_budgets": (
        lambda s, p, e: s.projects.update_budgets(
            p, project_id=e.project_id, budgets=BudgetsInput()
        ),
        "refused",
    ),
    "UsageService.budget_usage": (
        lambda s, p, e: s.usage.budget_usage(p, e.project_id, Budgets(), None),
        "refused",
    ),
    "LlmKeyService.project_model_ids": (
        lambda s, p, e: s.llm_keys.project_model_ids(p, e.project_id),
        "refused",
    ),
    "ApiKeyService.keys": (lambda s, p, e: s.api_keys.keys(p, e.project_id, PAGE), "refused"),
    "ApiKeyService.key": (lambda s, p, e: s.api_keys.key(p, e.project_id, e.key_id), "nothing"),
    "ApiKeyService.keys_by_id": (
        lambda s, p, e: s.api_keys.keys_by_id(p, e.project_id, [e.key_id]),
        "nothing",
    ),
    "LlmKeyService.add": (
        lambda s, p, e: s.llm_keys.add(
            p,
            project_id=e.project_id,
            provider=Provider.ANTHROPIC,
            secret_key="sk-ant-0123456789abcdef",
            custom_models=[],
            with_default_models=True,
        ),
        "refused",
    ),
    "LlmKeyService.update": (
        lambda s, p, e: s.llm_keys.update(
            p, key_id=e.llm_key_id, changes=KeyChanges(secret_key="sk-mine-0123456789ab")
        ),
        "refused",
    ),
    "LlmKeyService.delete": (
        lambda s, p, e: s.llm_keys.delete(p, key_id=e.llm_key_id),
        "refused",
    ),
    "LlmKeyService.keys": (lambda s, p, e: s.llm_keys.keys(p, e.project_id), "refused"),
    "LlmKeyService.project_models": (
        lambda s, p, e: s.llm_keys.project_models(p, e.project_id),
        "refused",
    ),
    "UsageService.series": (
        lambda s, p, e: s.usage.series(
            p,
            e.project_id,
            start=s.clock.now() - timedelta(days=1),
            end=s.clock.now(),
            granularity=Granularity.HOUR,
            api_key_id=None,
        ),
        "refused",
    ),
    "UsageService.last_24_hours": (
        lambda s, p, e: s.usage.last_24_hours(p, [(e.project_id, e.key_id)]),
        "nothing",
    ),
    "UsageService.client_addresses": (
        lambda s, p, e: s.usage.client_addresses(p, e.project_id, e.key_id, PAGE),
        "refused",
    ),
    "UsageService.alerts": (
        lambda s, p, e: s.usage.alerts(p, e.project_id, PAGE, include_acknowledged=True),
        "refused",
    ),
    "UsageService.acknowledge": (lambda s, p, e: s.usage.acknowledge(p, e.alert_id), "refused"),
    "AuditService.project_events": (
        lambda s, p, e: s.audit.project_events(p, e.project_id, PAGE),
        "refused",
    ),
    "AuditService.project_actions": (
        lambda s, p, e: s.audit.project_actions(p, e.project_id),
        "refused",
    ),
    "WebhookService.add": (
        lambda s, p, e: s.webhooks.add(
            p,
            project_id=e.project_id,
            url="https://attacker.example.com/",
            events=[WebhookEvent.KEY_LEAKED],
        ),
        "refused",
    ),
    "WebhookService.update": (
        lambda s, p, e: s.webhooks.update(
            p, webhook_id=e.webhook_id, changes=WebhookChanges(url="https://attacker.example.com/")
        ),
        "refused",
    ),
    "WebhookService.delete": (
        lambda s, p, e: s.webhooks.delete(p, webhook_id=e.webhook_id),
        "refused",
    ),
    "WebhookService.rotate_secret": (
        lambda s, p, e: s.webhooks.rotate_secret(p, webhook_id=e.webhook_id),
        "refused",
    ),
    "WebhookService.send_test": (
        lambda s, p, e: s.webhooks.send_test(p, webhook_id=e.webhook_id),
        "refused",
    ),
    "WebhookService.webhooks": (lambda s, p, e: s.webhooks.webhooks(p, e.project_id), "refused"),
    "WebhookService.webhook": (
        lambda s, p, e: s.webhooks.webhook(p, e.project_id, e.webhook_id),
        "refused",
    ),
    "WebhookService.deliveries": (
        lambda s, p, e: s.webhooks.deliveries(p, e.webhook_id, PAGE),
        "refused",
    ),
}


def test_every_entry_point_is_checked_here() -> None:
    entry_points = {
        f"{service.__name__}.{name}"
        for service in SERVICES
        for name, _ in inspect.getmembers(service, inspect.iscoroutinefunction)
        if not name.startswith("_")
    }

    assert entry_points - set(OUTSIDER_CALLS) - set(NO_CALLER) == set()
    assert set(OUTSIDER_CALLS) | set(NO_CALLER) <= entry_points  # no stale names either


@pytest.mark.parametrize("outsider", ["person", "another project's key"])
async def test_an_outsider_is_refused_by_every_entry_point(
    app: Litestar, gql: GraphQLClient, elsewhere: Elsewhere, outsider: str
) -> None:
    services: Services = app.state.services
    stranger = await sign_up(gql)
    own_project = await create_project(gql, stranger)
    own_key = await create_key(gql, stranger, own_project["id"])
    let_through = []

    for entry_point, (call, expected) in OUTSIDER_CALLS.items():
        # A principal per call, as a request has: nothing read for one call helps the next.
        principal = (
            Principal.user(uuid.UUID(stranger.user_id))
            if outsider == "person"
            else Principal.project(uuid.UUID(own_project["id"]), own_key["id"])
        )
        try:
            answer = await call(services, principal, elsewhere)
        except NotFound:
            continue
        if expected == "refused" or answer:
            let_through.append(entry_point)

    assert let_through == []
    # And nothing changed: the key still has its note and still works.
    key = await services.api_keys.key(
        Principal.project(elsewhere.project_id, elsewhere.key_id),
        elsewhere.project_id,
        elsewhere.key_id,
    )
    assert key is not None
    assert key.note == "Production backend"
