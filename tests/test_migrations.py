"""The migrations build exactly the tables the code declares, and refuse a history they do not
know."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from piccolo.apps.migrations.commands.new import AutoMigrationManager

from app.piccolo_app import APP_CONFIG

ROOT = Path(__file__).resolve().parent.parent


async def test_the_tables_and_the_migrations_agree() -> None:
    # What `piccolo migrations new traylinx --auto` would write: nothing, or a table changed
    # without its migration.
    changes = await AutoMigrationManager(auto_input="y").get_alter_statements(app_config=APP_CONFIG)

    statements = [statement for change in changes for statement in change.statements]
    assert statements == [], "a table changed without a migration: see the README's Upgrading"


def test_a_database_with_migrations_this_code_does_not_know_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{path}",
        "TRAYLINX_VAR_DIR": str(tmp_path),
    }
    migrate = [sys.executable, "-m", "app", "migrate"]
    first = subprocess.run(migrate, env=environment, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT INTO migration (name, app_name, ran_on) "
            "VALUES ('2026-11-27T09:25:59:753165', 'traylinx', '2026-11-27 09:26:00')"
        )

    again = subprocess.run(
        migrate, env=environment, capture_output=True, text=True, check=False, cwd=ROOT
    )

    assert again.returncode == 1
    assert "2026-11-27T09:25:59:753165" in again.stderr
    assert "new database" in again.stderr
    assert "Traceback" not in again.stderr
