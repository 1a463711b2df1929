"""Settings: read from the environment, validated at start, never showing secrets."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from app.settings import Environment, Settings, SettingsError

STRONG = "s" * 48


def test_defaults_are_development_on_sqlite_under_var(tmp_path: Path) -> None:
    settings = Settings.from_env({"TRAYLINX_VAR_DIR": str(tmp_path)})

    assert settings.env is Environment.DEVELOPMENT
    assert settings.database.engine == "sqlite"
    assert settings.database.sqlite_path == tmp_path / "traylinx.sqlite3"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)


def test_development_generates_a_secret_once_with_owner_only_permissions(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = Settings.from_env({"TRAYLINX_VAR_DIR": str(tmp_path)})
    second = Settings.from_env({"TRAYLINX_VAR_DIR": str(tmp_path)})

    secret_file = tmp_path / "secret_key"
    assert first.secret_key == second.secret_key
    assert len(first.secret_key.reveal()) >= 32
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert "TRAYLINX_SECRET_KEY is not set" in caplog.text
    assert first.secret_key.reveal() not in caplog.text


def test_production_without_a_secret_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="TRAYLINX_SECRET_KEY is required in production"):
        Settings.from_env({"TRAYLINX_ENV": "production", "TRAYLINX_VAR_DIR": str(tmp_path)})


def test_a_short_secret_refuses_to_start() -> None:
    with pytest.raises(SettingsError, match="at least 32 bytes"):
        Settings.from_env({"TRAYLINX_ENV": "production", "TRAYLINX_SECRET_KEY": "short"})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TRAYLINX_ENV", "staging", "TRAYLINX_ENV must be"),
        ("DATABASE_URL", "mysql://db", "DATABASE_URL must start with"),
        ("TRAYLINX_PORT", "eighty", "TRAYLINX_PORT must be a whole number"),
        ("TRAYLINX_PORT", "70000", "TRAYLINX_PORT must be between"),
        ("TRAYLINX_ACCESS_TOKEN_TTL_SECONDS", "5", "TRAYLINX_ACCESS_TOKEN_TTL_SECONDS must be"),
        ("TRAYLINX_OPENAI_BASE_URL", "ftp://api.example", "must be an http:// or https:// URL"),
        ("TRAYLINX_OPENAI_BASE_URL", "https://", "URL with a host"),
        ("TRAYLINX_OPENAI_BASE_URL", "http://host:port/v1", "is not a valid URL"),
        ("TRAYLINX_ANTHROPIC_BASE_URL", "https://u:p@api.example", "must not carry a query"),
    ],
)
def test_invalid_values_name_the_setting(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({"TRAYLINX_SECRET_KEY": STRONG, name: value})


def test_repr_hides_the_secret_and_the_database_password() -> None:
    settings = Settings.from_env(
        {
            "TRAYLINX_SECRET_KEY": STRONG,
            "DATABASE_URL": "postgresql://app:hunter2-db-pass@db.internal:5432/keys",
        }
    )

    shown = repr(settings) + str(settings)
    assert STRONG not in shown
    assert "hunter2-db-pass" not in shown
    assert settings.database.postgres_config()["password"] == "hunter2-db-pass"


def test_cors_origins_are_a_comma_separated_list() -> None:
    settings = Settings.from_env(
        {
            "TRAYLINX_SECRET_KEY": STRONG,
            "TRAYLINX_CORS_ORIGINS": "https://a.example, https://b.example",
        }
    )

    assert settings.cors_origins == ("https://a.example", "https://b.example")


def test_the_cli_reports_a_bad_setting_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "migrate"],
        env={"TRAYLINX_ENV": "production", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
        timeout=60,
    )

    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: TRAYLINX_SECRET_KEY is required in production")


@pytest.mark.parametrize(
    "database_url",
    ["postgresql://postgres@127.0.0.1:9/nowhere", "sqlite:////proc/no-such-dir/x.sqlite3"],
)
def test_an_unusable_database_stops_the_start_with_one_line(database_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "serve", "--port", "9"],
        env={"DATABASE_URL": database_url, "TRAYLINX_SECRET_KEY": STRONG, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
        timeout=60,
    )

    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: cannot use the database at")
    assert "Traceback" not in result.stderr


def test_serving_defaults_bound_slow_clients_and_run_one_worker() -> None:
    serving = Settings.from_env({"TRAYLINX_SECRET_KEY": STRONG}).serving

    assert serving.workers == 1
    assert (serving.head_timeout, serving.body_idle_timeout) == (10.0, 30.0)
    assert serving.max_connections == 1000


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TRAYLINX_WORKERS", "0", "TRAYLINX_WORKERS must be between 1 and 256"),
        ("TRAYLINX_WORKERS", "two", "TRAYLINX_WORKERS must be a whole number"),
        ("TRAYLINX_REQUEST_HEAD_TIMEOUT_SECONDS", "0", "must be between 0 and 3600 seconds"),
        ("TRAYLINX_REQUEST_BODY_IDLE_TIMEOUT_SECONDS", "soon", "must be a number of seconds"),
        ("TRAYLINX_MAX_CONNECTIONS", "0", "TRAYLINX_MAX_CONNECTIONS must be between 1 and"),
    ],
)
def test_invalid_serving_values_name_the_setting(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({"TRAYLINX_SECRET_KEY": STRONG, name: value})


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--workers", "0"], "argument --workers: must be between 1 and 256"),
        (["--workers", "many"], "argument --workers: expected a whole number, got 'many'"),
        (["--port", "70000"], "argument --port: must be between 1 and 65535"),
    ],
)
def test_the_cli_refuses_a_bad_serve_argument_in_one_line(
    arguments: list[str], message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "serve", *arguments],
        env={"TRAYLINX_SECRET_KEY": STRONG, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
        timeout=60,
    )

    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith(message)
    assert "Traceback" not in result.stderr


def test_the_graphql_deadline_is_a_setting(tmp_path: Path) -> None:
    def deadline(value: str) -> float:
        environ = {"TRAYLINX_VAR_DIR": str(tmp_path), "TRAYLINX_GRAPHQL_DEADLINE_SECONDS": value}
        return Settings.from_env(environ).graphql.deadline_seconds

    assert deadline("2.5") == 2.5
    with pytest.raises(SettingsError, match="TRAYLINX_GRAPHQL_DEADLINE_SECONDS"):
        deadline("0")
