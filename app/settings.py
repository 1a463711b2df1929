"""Typed settings read once from the environment and validated at start.

Every knob the service has lives here, documented in the README's settings table. Code elsewhere
receives a `Settings` object; nothing else reads the environment.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from app.security.crypto import EncryptionKey, Keyring, KeyringFormatError

log = logging.getLogger(__name__)

MIN_SECRET_BYTES = 32
# More serving processes than this is a typo, not a machine.
MAX_WORKERS = 256
DEFAULT_VAR_DIR = Path("var")
# The admin console as `make install` builds it (npm run build in web/).
DEFAULT_CONSOLE_DIR = Path(__file__).resolve().parent.parent / "web" / "dist"


class SettingsError(ValueError):
    """A setting is missing or invalid; the message is one line an operator can act on."""


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Secret:
    """A string that never shows itself in repr, str or logs; `.reveal()` is explicit."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and secrets.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class DatabaseConfig:
    """Where the data lives: an embedded SQLite file or a PostgreSQL server."""

    url: str
    pool_max_size: int = 10

    @property
    def engine(self) -> str:
        return "sqlite" if self.url.startswith("sqlite") else "postgres"

    @property
    def sqlite_path(self) -> Path:
        # sqlite:///relative/path and sqlite:////absolute/path, as SQLAlchemy spells them.
        return Path(unquote(self.url.removeprefix("sqlite:///")))

    def postgres_config(self) -> dict[str, object]:
        parts = urlsplit(self.url)
        config: dict[str, object] = {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 5432,
            "user": unquote(parts.username or "postgres"),
            "database": parts.path.lstrip("/") or "postgres",
        }
        if parts.password:
            config["password"] = unquote(parts.password)
        sslmode = parse_qs(parts.query).get("sslmode")
        if sslmode:
            config["ssl"] = sslmode[0]  # asyncpg takes libpq's sslmode names
        return config

    def __repr__(self) -> str:
        # A PostgreSQL URL may carry a password.
        parts = urlsplit(self.url)
        if parts.password:
            shown = self.url.replace(f":{parts.password}@", ":***@")
            return f"DatabaseConfig(url={shown!r}, pool_max_size={self.pool_max_size})"
        return f"DatabaseConfig(url={self.url!r}, pool_max_size={self.pool_max_size})"


@dataclass(frozen=True)
class AuthConfig:
    access_token_ttl: timedelta = timedelta(minutes=15)
    refresh_token_ttl: timedelta = timedelta(days=30)
    # logIn attempts allowed within the window, per account and per client address.
    login_window: timedelta = timedelta(minutes=15)
    login_attempts_per_account: int = 10
    login_attempts_per_ip: int = 100


@dataclass(frozen=True)
class ApiKeyConfig:
    # How often recorded key uses (lastUsedAt, last IP) are written; each key at most once a minute.
    last_use_flush: timedelta = timedelta(seconds=5)


@dataclass(frozen=True)
class ProxyConfig:
    # Where provider requests go: operator settings, never per-key input.
    openai_base_url: str = "https://api.openai.com/v1"
    anthropic_base_url: str = "https://api.anthropic.com"
    connect_timeout: float = 10.0
    # Longest silence between two bytes of an upstream response (a model may think for a while).
    read_timeout: float = 300.0
    max_body_bytes: int = 10 * 1024 * 1024
    max_connections: int = 200
    default_anthropic_version: str = "2023-06-01"


class UsageWriterKind(StrEnum):
    # A child process aggregates and writes the batches: that CPU is not taken from serving,
    # whose process has one interpreter lock for everything it runs.
    PROCESS = "process"
    # The serving process does it: one process fewer, where there is no second core to use.
    INLINE = "inline"


@dataclass(frozen=True)
class UsageConfig:
    # Off only to measure what recording costs; usage metrics and alerts need it on.
    enabled: bool = True
    writer: UsageWriterKind = UsageWriterKind.PROCESS
    flush_every: timedelta = timedelta(seconds=2)
    max_pending: int = 100_000
    # Raw per-request events are deleted after this; hourly aggregates stay.
    raw_retention: timedelta = timedelta(days=30)


@dataclass(frozen=True)
class MonitoringConfig:
    """Thresholds of the key hygiene flags and security alerts (see the README)."""

    rotation_period: timedelta = timedelta(days=90)
    expires_soon: timedelta = timedelta(days=7)
    # An IP is unfamiliar when the key has not been used from it within this lookback...
    unfamiliar_ip_lookback: timedelta = timedelta(days=30)
    # ...and the key has been in use for longer than this (its first day sets its habits).
    unfamiliar_ip_grace: timedelta = timedelta(days=1)
    # A spike: an hour above factor x the median of the key's previous `spike_window` of hourly
    # counts (hours without traffic count as 0), and above an absolute floor.
    spike_factor: float = 5.0
    spike_window_hours: int = 168
    request_spike_floor: int = 100
    error_spike_floor: int = 20


class LeakedKeyAction(StrEnum):
    REVOKE = "revoke"
    ALERT = "alert"


@dataclass(frozen=True)
class LeakConfig:
    """What happens when GitHub reports one of our keys found in public."""

    action: LeakedKeyAction = LeakedKeyAction.REVOKE
    github_keys_url: str = "https://api.github.com/meta/public_keys/secret_scanning"
    # Sent with the keys request to avoid GitHub's anonymous rate limit (needs no scope).
    github_token: Secret | None = None


@dataclass(frozen=True)
class WebhookConfig:
    # Development and tests only: lets endpoints on loopback and private networks be called.
    allow_private_networks: bool = False
    connect_timeout: float = 5.0
    # One attempt, from connecting to the end of the (bounded) response.
    timeout: float = 15.0
    # How often each process looks for due deliveries queued by other processes (its own it
    # sends at once).
    poll_every: float = 1.0
    # Attempts sent at once by one process.
    concurrency: int = 16
    # Off only to measure or to run a process that must not send.
    enabled: bool = True


@dataclass(frozen=True)
class GraphQLLimits:
    max_depth: int = 10
    max_aliases: int = 30
    max_tokens: int = 2_000
    # Objects one operation may ask for, every connection's page multiplying what it holds.
    max_objects: int = 10_000
    # Fields one operation selects once its fragments are expanded.
    max_fields: int = 5_000
    max_body_bytes: int = 1024 * 1024
    # How long one operation may run before it is stopped with OPERATION_TIMEOUT.
    deadline_seconds: float = 10.0


@dataclass(frozen=True)
class ServingConfig:
    """How `serve` runs: its processes, and the limits each one puts on clients.

    uvicorn bounds nothing a client takes its time over: a connection that sends a header line
    now and then, or a body that stops half way, would hold its socket and its request forever.
    """

    # Serving processes sharing the port (uvicorn workers); each is a whole server.
    workers: int = 1
    # A request's head (request line and headers) must be complete this long after its first
    # byte (after the connection opened, for a connection's first request)...
    head_timeout: float = 10.0
    # ...and its body may not pause for longer than this between two arrivals.
    body_idle_timeout: float = 30.0
    # Connections one process holds open at once; requests beyond them are answered 503.
    max_connections: int = 1000


@dataclass(frozen=True)
class Settings:
    env: Environment
    secret_key: Secret
    database: DatabaseConfig
    host: str = "127.0.0.1"
    port: int = 8000
    # Proxies whose X-Forwarded-For is believed: client IPs (usage, alerts) depend on it.
    forwarded_allow_ips: str = "127.0.0.1"
    cors_origins: tuple[str, ...] = ()
    serving: ServingConfig = field(default_factory=ServingConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    graphql: GraphQLLimits = field(default_factory=GraphQLLimits)
    api_keys: ApiKeyConfig = field(default_factory=ApiKeyConfig)
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    usage: UsageConfig = field(default_factory=UsageConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    webhooks: WebhookConfig = field(default_factory=WebhookConfig)
    leaks: LeakConfig = field(default_factory=LeakConfig)
    keyring: Keyring = field(default_factory=lambda: Keyring([EncryptionKey.generate("ephemeral")]))
    model_catalog_file: Path | None = None
    var_dir: Path = DEFAULT_VAR_DIR
    console_dir: Path = DEFAULT_CONSOLE_DIR
    # Where key policies' counters live when several processes share them; None: in memory.
    # A Secret: the URL may carry a password.
    redis_url: Secret | None = None
    log_level: str = "INFO"
    log_format: str = "text"

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate; raises SettingsError with one clear line on a bad value."""
        env_vars = os.environ if environ is None else environ
        env = _parse_env(env_vars.get("TRAYLINX_ENV", "development"))
        var_dir = Path(env_vars.get("TRAYLINX_VAR_DIR", str(DEFAULT_VAR_DIR)))
        return cls(
            env=env,
            secret_key=_secret_key(env_vars.get("TRAYLINX_SECRET_KEY"), env, var_dir),
            database=DatabaseConfig(
                url=_database_url(env_vars.get("DATABASE_URL"), var_dir),
                pool_max_size=_int(env_vars, "TRAYLINX_DB_POOL_SIZE", 10, minimum=1),
            ),
            host=env_vars.get("TRAYLINX_HOST", "127.0.0.1"),
            port=_int(env_vars, "TRAYLINX_PORT", 8000, minimum=1, maximum=65535),
            forwarded_allow_ips=env_vars.get("TRAYLINX_FORWARDED_ALLOW_IPS", "127.0.0.1").strip(),
            cors_origins=tuple(
                origin.strip()
                for origin in env_vars.get("TRAYLINX_CORS_ORIGINS", "").split(",")
                if origin.strip()
            ),
            serving=ServingConfig(
                workers=_int(env_vars, "TRAYLINX_WORKERS", 1, minimum=1, maximum=MAX_WORKERS),
                head_timeout=_seconds(env_vars, "TRAYLINX_REQUEST_HEAD_TIMEOUT_SECONDS", 10),
                body_idle_timeout=_seconds(
                    env_vars, "TRAYLINX_REQUEST_BODY_IDLE_TIMEOUT_SECONDS", 30
                ),
                max_connections=_int(
                    env_vars, "TRAYLINX_MAX_CONNECTIONS", 1000, minimum=1, maximum=1_000_000
                ),
            ),
            auth=AuthConfig(
                access_token_ttl=timedelta(
                    seconds=_int(env_vars, "TRAYLINX_ACCESS_TOKEN_TTL_SECONDS", 900, minimum=30)
                ),
                refresh_token_ttl=timedelta(
                    seconds=_int(
                        env_vars, "TRAYLINX_REFRESH_TOKEN_TTL_SECONDS", 30 * 86400, minimum=60
                    )
                ),
                login_window=timedelta(
                    minutes=_int(
                        env_vars, "TRAYLINX_LOGIN_WINDOW_MINUTES", 15, minimum=1, maximum=1440
                    )
                ),
                login_attempts_per_account=_int(
                    env_vars, "TRAYLINX_LOGIN_ATTEMPTS_PER_ACCOUNT", 10, minimum=1
                ),
                login_attempts_per_ip=_int(
                    env_vars, "TRAYLINX_LOGIN_ATTEMPTS_PER_IP", 100, minimum=1
                ),
            ),
            graphql=GraphQLLimits(
                deadline_seconds=_seconds(env_vars, "TRAYLINX_GRAPHQL_DEADLINE_SECONDS", 10)
            ),
            api_keys=ApiKeyConfig(
                last_use_flush=timedelta(
                    seconds=_int(env_vars, "TRAYLINX_LAST_USE_FLUSH_SECONDS", 5, minimum=1)
                )
            ),
            proxy=ProxyConfig(
                openai_base_url=_base_url(
                    env_vars, "TRAYLINX_OPENAI_BASE_URL", ProxyConfig.openai_base_url
                ),
                anthropic_base_url=_base_url(
                    env_vars, "TRAYLINX_ANTHROPIC_BASE_URL", ProxyConfig.anthropic_base_url
                ),
                connect_timeout=_seconds(env_vars, "TRAYLINX_UPSTREAM_CONNECT_TIMEOUT_SECONDS", 10),
                read_timeout=_seconds(env_vars, "TRAYLINX_UPSTREAM_READ_TIMEOUT_SECONDS", 300),
                max_body_bytes=_int(
                    env_vars, "TRAYLINX_PROXY_MAX_BODY_BYTES", 10 * 1024 * 1024, minimum=1024
                ),
                max_connections=_int(env_vars, "TRAYLINX_UPSTREAM_MAX_CONNECTIONS", 200, minimum=1),
            ),
            usage=UsageConfig(
                enabled=_bool(env_vars, "TRAYLINX_USAGE_ENABLED", True),
                writer=_usage_writer(env_vars.get("TRAYLINX_USAGE_WRITER")),
                flush_every=timedelta(
                    seconds=_seconds(env_vars, "TRAYLINX_USAGE_FLUSH_SECONDS", 2)
                ),
                max_pending=_int(env_vars, "TRAYLINX_USAGE_MAX_PENDING", 100_000, minimum=100),
                raw_retention=timedelta(
                    days=_int(env_vars, "TRAYLINX_USAGE_RAW_RETENTION_DAYS", 30, minimum=1)
                ),
            ),
            monitoring=MonitoringConfig(
                rotation_period=timedelta(
                    days=_int(env_vars, "TRAYLINX_KEY_ROTATION_DAYS", 90, minimum=1)
                ),
                expires_soon=timedelta(
                    days=_int(env_vars, "TRAYLINX_KEY_EXPIRES_SOON_DAYS", 7, minimum=0)
                ),
                unfamiliar_ip_lookback=timedelta(
                    days=_int(env_vars, "TRAYLINX_ALERT_IP_LOOKBACK_DAYS", 30, minimum=1)
                ),
                spike_factor=float(
                    _int(env_vars, "TRAYLINX_ALERT_SPIKE_FACTOR", 5, minimum=2, maximum=1000)
                ),
                request_spike_floor=_int(
                    env_vars, "TRAYLINX_ALERT_REQUEST_SPIKE_FLOOR", 100, minimum=1
                ),
                error_spike_floor=_int(env_vars, "TRAYLINX_ALERT_ERROR_SPIKE_FLOOR", 20, minimum=1),
            ),
            webhooks=WebhookConfig(
                allow_private_networks=_bool(
                    env_vars, "TRAYLINX_WEBHOOK_ALLOW_PRIVATE_NETWORKS", False
                ),
                connect_timeout=_seconds(env_vars, "TRAYLINX_WEBHOOK_CONNECT_TIMEOUT_SECONDS", 5),
                timeout=_seconds(env_vars, "TRAYLINX_WEBHOOK_TIMEOUT_SECONDS", 15),
                poll_every=_seconds(env_vars, "TRAYLINX_WEBHOOK_POLL_SECONDS", 1),
                concurrency=_int(
                    env_vars, "TRAYLINX_WEBHOOK_CONCURRENCY", 16, minimum=1, maximum=1000
                ),
                enabled=_bool(env_vars, "TRAYLINX_WEBHOOKS_ENABLED", True),
            ),
            leaks=LeakConfig(
                action=_leaked_key_action(env_vars.get("TRAYLINX_LEAKED_KEY_ACTION")),
                github_keys_url=_base_url(
                    env_vars, "TRAYLINX_GITHUB_SCANNING_KEYS_URL", LeakConfig.github_keys_url
                ),
                github_token=_optional_secret(env_vars.get("TRAYLINX_GITHUB_TOKEN")),
            ),
            keyring=_keyring(env_vars.get("TRAYLINX_ENCRYPTION_KEYS"), env, var_dir),
            model_catalog_file=_optional_path(env_vars.get("TRAYLINX_MODEL_CATALOG")),
            var_dir=var_dir,
            console_dir=_optional_path(env_vars.get("TRAYLINX_CONSOLE_DIR")) or DEFAULT_CONSOLE_DIR,
            redis_url=_redis_url(env_vars.get("TRAYLINX_REDIS_URL")),
            log_level=_log_level(env_vars.get("TRAYLINX_LOG_LEVEL", "INFO")),
            log_format=_log_format(env_vars.get("TRAYLINX_LOG_FORMAT"), env),
        )


def _parse_env(raw: str) -> Environment:
    try:
        return Environment(raw.strip().lower())
    except ValueError:
        raise SettingsError(
            f"TRAYLINX_ENV must be 'development' or 'production', not {raw!r}"
        ) from None


def _int(
    env_vars: Mapping[str, str],
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    raw = env_vars.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise SettingsError(f"{name} must be between {minimum} and {maximum}, not {value}")
    return value


def _log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise SettingsError(
            f"TRAYLINX_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {raw!r}"
        )
    return level


def _log_format(raw: str | None, env: Environment) -> str:
    # One JSON object per line in production, for log pipelines; readable lines in development.
    value = (raw or "").strip().lower() or ("json" if env is Environment.PRODUCTION else "text")
    if value not in {"json", "text"}:
        raise SettingsError(f"TRAYLINX_LOG_FORMAT must be json or text, not {raw!r}")
    return value


def _usage_writer(raw: str | None) -> UsageWriterKind:
    value = (raw or "").strip().lower() or UsageWriterKind.PROCESS.value
    try:
        return UsageWriterKind(value)
    except ValueError:
        raise SettingsError(
            f"TRAYLINX_USAGE_WRITER must be process or inline, not {raw!r}"
        ) from None


def _bool(env_vars: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env_vars.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, not {raw!r}")


def _seconds(env_vars: Mapping[str, str], name: str, default: float) -> float:
    raw = env_vars.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not 0 < value <= 3600:
        raise SettingsError(f"{name} must be between 0 and 3600 seconds, not {value}")
    return value


def _base_url(env_vars: Mapping[str, str], name: str, default: str) -> str:
    url = (env_vars.get(name) or "").strip() or default
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise SettingsError(f"{name} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"{name} must be an http:// or https:// URL with a host")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise SettingsError(f"{name} must not carry a query, fragment or credentials")
    return url.rstrip("/")


def _database_url(raw: str | None, var_dir: Path) -> str:
    url = (raw or "").strip() or f"sqlite:///{var_dir / 'traylinx.sqlite3'}"
    if not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise SettingsError(
            "DATABASE_URL must start with sqlite:/// or postgresql:// "
            f"(got a value starting with {url.split(':', 1)[0]!r})"
        )
    return url


def _secret_key(raw: str | None, env: Environment, var_dir: Path) -> Secret:
    if raw:
        if len(raw.encode()) < MIN_SECRET_BYTES:
            raise SettingsError(f"TRAYLINX_SECRET_KEY must be at least {MIN_SECRET_BYTES} bytes")
        return Secret(raw)
    if env is Environment.PRODUCTION:
        raise SettingsError(
            "TRAYLINX_SECRET_KEY is required in production "
            f"(at least {MIN_SECRET_BYTES} bytes, e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))'`)"
        )
    return Secret(_development_secret(var_dir / "secret_key"))


def _development_secret(path: Path) -> str:
    """Generate once and keep under var/, so sessions survive a restart in development."""
    return _generated_once(path, lambda: secrets.token_urlsafe(48), "TRAYLINX_SECRET_KEY")


def _keyring(raw: str | None, env: Environment, var_dir: Path) -> Keyring:
    if raw and raw.strip():
        try:
            return Keyring.parse(raw)
        except KeyringFormatError as error:
            raise SettingsError(f"TRAYLINX_ENCRYPTION_KEYS: {error}") from None
    if env is Environment.PRODUCTION:
        raise SettingsError(
            "TRAYLINX_ENCRYPTION_KEYS is required in production (id:base64 of 32 random bytes, "
            "newest first; `python -m app generate-encryption-key` prints one)"
        )
    text = _generated_once(
        var_dir / "encryption_keys",
        lambda: EncryptionKey.generate("dev1").encode(),
        "TRAYLINX_ENCRYPTION_KEYS",
    )
    try:
        return Keyring.parse(text)
    except KeyringFormatError as error:
        raise SettingsError(f"{var_dir / 'encryption_keys'}: {error}") from None


def _generated_once(path: Path, generate: Callable[[], str], variable: str) -> str:
    """Read a development secret from `path`, creating it (mode 0600) the first time."""
    if path.exists():
        return _read_generated(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    value = generate()
    # O_EXCL: two processes starting together must not overwrite each other's secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_generated(path)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    log.warning(
        "%s is not set: generated a development value in %s. Set %s in production.",
        variable,
        path,
        variable,
    )
    return value


def _read_generated(path: Path) -> str:
    # Another process may have created the file and not written it yet: wait a moment.
    for _ in range(50):
        value = path.read_text().strip()
        if value:
            return value
        time.sleep(0.02)
    raise SettingsError(f"{path} is empty; delete it to generate a new value")


def _redis_url(raw: str | None) -> Secret | None:
    url = (raw or "").strip()
    if not url:
        return None
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError("TRAYLINX_REDIS_URL must start with redis://, rediss:// or unix://")
    return Secret(url)


def _leaked_key_action(raw: str | None) -> LeakedKeyAction:
    value = (raw or "").strip().lower() or LeakedKeyAction.REVOKE.value
    try:
        return LeakedKeyAction(value)
    except ValueError:
        raise SettingsError(
            f"TRAYLINX_LEAKED_KEY_ACTION must be revoke or alert, not {raw!r}"
        ) from None


def _optional_secret(raw: str | None) -> Secret | None:
    value = (raw or "").strip()
    return Secret(value) if value else None


def _optional_path(raw: str | None) -> Path | None:
    return Path(raw) if raw and raw.strip() else None
