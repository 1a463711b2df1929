"""The Piccolo app: every table of every domain, migrations in the top-level folder."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from app.accounts.tables import LoginAttempt, RefreshToken, Session, User
from app.api_keys.tables import ApiKey
from app.audit.tables import AuditEvent
from app.leases import Lease
from app.llm_keys.tables import LlmApiKey
from app.projects.tables import Membership, Project
from app.usage.tables import (
    KeyClientIp,
    SecurityAlert,
    UsageEvent,
    UsageHourly,
    UsageProjectHourly,
)
from app.webhooks.tables import Notice, Webhook, WebhookDelivery, WebhookMessage

MIGRATIONS_FOLDER = Path(__file__).resolve().parent.parent / "piccolo_migrations"

APP_CONFIG = AppConfig(
    app_name="traylinx",
    migrations_folder_path=str(MIGRATIONS_FOLDER),
    table_classes=[
        User,
        Session,
        RefreshToken,
        LoginAttempt,
        Project,
        Membership,
        AuditEvent,
        ApiKey,
        LlmApiKey,
        UsageEvent,
        UsageHourly,
        UsageProjectHourly,
        KeyClientIp,
        SecurityAlert,
        Lease,
        Webhook,
        WebhookMessage,
        WebhookDelivery,
        Notice,
    ],
)
