"""`python -m app scan`: keys found in files, folders, standard input and git history, each with
its status from the real database; exit codes for CI; --revoke; what is skipped; never a secret
in the output."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app import db
from app.api_keys.service import IssuedKey
from app.audit.tables import AuditEvent
from app.cli import main
from app.clock import FrozenClock
from app.leaks import scanner
from app.leaks.scan_command import STATUSES
from app.leaks.service import KeyStatus
from app.security import tokens
from app.security.principal import Principal
from app.services import Services
from app.settings import Settings
from tests.conftest import TEST_ENV, TEST_HASHER, _empty_tables
from tests.helpers import PASSWORD, new_email

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Keys:
    live: str
    live_id: str
    deleted: str
    deleted_id: str
    expired: str
    expired_id: str
    # Checksum-valid, but no key of ours: a made-up id, and a real id with another secret.
    unknown: str
    wrong_secret: str
    # A lookalike of the live key with a broken checksum.
    bad_checksum: str

    @property
    def secrets(self) -> list[str]:
        return [self.live, self.deleted, self.expired, self.unknown, self.wrong_secret]


def _key_with_checksum(key_id: str, secret: str) -> str:
    body = f"tlx_{key_id}_{secret}"
    return body + tokens._base62_checksum(body)


async def _make_keys(settings: Settings) -> Keys:
    """Keys made through the service, with a clock two days behind: the key that expires
    "yesterday" is valid when made and expired when the scanner looks."""
    db.activate(db.make_engine(settings.database))
    await _empty_tables()
    clock = FrozenClock(datetime.now(UTC) - timedelta(days=2))
    yesterday = datetime.now(UTC) - timedelta(days=1)
    services = Services.build(settings, clock, TEST_HASHER)
    session = await services.accounts.sign_up(
        Principal.anonymous(), email=new_email(), password=PASSWORD, name="Ada"
    )
    owner = Principal.user(session.user.id)
    project = (await services.projects.create(owner, name="Scanned")).id

    async def new_key(note: str, expires_at: datetime | None = None) -> IssuedKey:
        return await services.api_keys.create(
            owner, project_id=project, note=note, expires_at=expires_at
        )

    live = await new_key("Deploy bot")
    deleted = await new_key("Old")
    await services.api_keys.delete(owner, key_id=deleted.key.id)
    expired = await new_key("Trial", yesterday)
    last = live.secret[-1]
    return Keys(
        live=live.secret,
        live_id=live.key.id,
        deleted=deleted.secret,
        deleted_id=deleted.key.id,
        expired=expired.secret,
        expired_id=expired.key.id,
        unknown=tokens.new_project_key(tokens.new_key_id()),
        wrong_secret=_key_with_checksum(live.key.id, "0" * tokens.SECRET_LENGTH),
        bad_checksum=live.secret[:-1] + ("A" if last != "A" else "B"),
    )


@pytest.fixture
def keys(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Keys:
    """Keys of every status in the test database, which the scanner reaches through the
    environment as an operator's shell would."""
    for name, value in _scanner_env(settings, tmp_path).items():
        monkeypatch.setenv(name, value)
    return asyncio.run(_make_keys(settings))


def _scanner_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    return {
        **TEST_ENV,
        "DATABASE_URL": settings.database.url,
        "TRAYLINX_VAR_DIR": str(tmp_path / "var"),
        "TRAYLINX_LOG_LEVEL": "WARNING",
    }


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.out)
        return document

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


class Scanner:
    """Runs `python -m app scan` in this process and checks that no key ever shows."""

    def __init__(self, capsys: pytest.CaptureFixture[str], secrets: list[str]) -> None:
        self._capsys = capsys
        self.secrets = secrets

    def __call__(self, *args: str | Path) -> Result:
        self._capsys.readouterr()
        try:
            code = main(["scan", *map(str, args)])
        except SystemExit as exit_:  # argparse's usage errors
            code = int(exit_.code or 0)
        captured = self._capsys.readouterr()
        result = Result(code, captured.out, captured.err)
        assert_no_secret(result, self.secrets)
        return result


def assert_no_secret(result: Result, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in result.out
        assert secret not in result.err
        # Nor the secret part alone.
        assert secret[17:] not in result.out + result.err


@pytest.fixture
def scan(capsys: pytest.CaptureFixture[str], keys: Keys) -> Scanner:
    return Scanner(capsys, keys.secrets)


@pytest.fixture
def scan_offline(capsys: pytest.CaptureFixture[str]) -> Scanner:
    return Scanner(capsys, [])


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def _audit_events() -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await AuditEvent.select().where(
            AuditEvent.action == "api_key.revoke_leaked"
        )
        return rows

    return asyncio.run(read())


def _activate(settings: Settings) -> None:
    db.activate(db.make_engine(settings.database))


# --- Files and folders ----------------------------------------------------------------------


def test_a_folder_scan_says_what_each_key_is_and_a_live_one_exits_1(
    scan: Scanner, keys: Keys, workdir: Path
) -> None:
    (workdir / "src").mkdir()
    (workdir / "src" / "settings.py").write_text(f'import os\n\nKEY = "{keys.live}"\n')
    (workdir / ".env").write_text(
        f"OLD={keys.deleted}\nEXPIRED={keys.expired}\nOTHER={keys.unknown}\n"
        f"FORGED={keys.wrong_secret}\nTYPO={keys.bad_checksum}\n"
    )
    (workdir / "notes.md").write_text(
        f"inside a longer token: x{keys.live} and {keys.live}_more and {keys.live}0\n"
    )

    result = scan(workdir)

    assert result.code == 1
    env, settings = workdir / ".env", workdir / "src" / "settings.py"
    assert result.lines[:5] == [
        f"{env}:1: deleted key {keys.deleted_id} (start tlx_{keys.deleted_id[:4]})",
        f"{env}:2: expired key {keys.expired_id} (start tlx_{keys.expired_id[:4]})",
        f"{env}:3: unknown key {keys.unknown[4:16]} (start {keys.unknown[:8]})",
        f"{env}:4: unknown key {keys.live_id} (start tlx_{keys.live_id[:4]})",
        f"{settings}:3: live key {keys.live_id} (start tlx_{keys.live_id[:4]})",
    ]
    assert result.lines[5] == (
        "found 5 project keys in 5 places: 1 live, 1 expired, 1 deleted, 2 unknown"
    )
    assert result.lines[6].startswith("scanned 3 files (")


def test_without_a_live_key_the_exit_code_is_0(scan: Scanner, keys: Keys, workdir: Path) -> None:
    (workdir / "old.txt").write_text(f"{keys.deleted}\n{keys.expired}\n{keys.bad_checksum}\n")

    result = scan("old.txt")

    assert result.code == 0
    assert [line.split(": ")[1].split()[0] for line in result.lines[:2]] == ["deleted", "expired"]


def test_no_path_scans_the_current_folder(scan: Scanner, keys: Keys, workdir: Path) -> None:
    (workdir / "a.cfg").write_text(f"key: {keys.live}\n")

    result = scan()

    assert result.code == 1
    assert result.lines[0].startswith("a.cfg:1: live key ")


def test_standard_input_is_scanned_with_dash(
    scan: Scanner, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = f"line one\nAuthorization: Bearer {keys.live}\n".encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))

    result = scan("-")

    assert result.code == 1
    assert result.lines[0] == f"<stdin>:2: live key {keys.live_id} (start tlx_{keys.live_id[:4]})"


def test_json_output_lists_findings_and_counts(scan: Scanner, keys: Keys, workdir: Path) -> None:
    (workdir / "b.txt").write_text(f"{keys.expired}\n")
    (workdir / "a.txt").write_text(f"\n{keys.live} {keys.live}\n")
    (workdir / "c.bin").write_bytes(b"\0" + keys.live.encode())

    result = scan(".", "--format", "json")

    document = result.json()
    assert result.code == 1
    assert document["findings"] == [
        {
            "place": "a.txt:2",
            "source": "a.txt",
            "line": 2,
            "keyId": keys.live_id,
            "start": f"tlx_{keys.live_id[:4]}",
            "status": "live",
            "action": None,
        },
        {
            "place": "a.txt:2",
            "source": "a.txt",
            "line": 2,
            "keyId": keys.live_id,
            "start": f"tlx_{keys.live_id[:4]}",
            "status": "live",
            "action": None,
        },
        {
            "place": "b.txt:1",
            "source": "b.txt",
            "line": 1,
            "keyId": keys.expired_id,
            "start": f"tlx_{keys.expired_id[:4]}",
            "status": "expired",
            "action": None,
        },
    ]
    summary = document["summary"]
    assert summary["files"] == 2
    assert summary["bytes"] == len(keys.live) * 2 + 3 + len(keys.expired) + 1
    assert summary["skipped"] == {"binary": 1, "tooLarge": 0, "unreadable": 0, "notRegular": 0}
    assert summary["keys"] == {"live": 1, "expired": 1, "deleted": 0, "unknown": 0}
    assert summary["revoked"] == 0
    assert isinstance(summary["seconds"], float)


# --- Git history ----------------------------------------------------------------------------


def _git(repository: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    done = subprocess.run(
        ["git", "-C", str(repository), *args], env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def test_a_key_committed_then_removed_is_found_in_the_history_only(
    scan: Scanner, keys: Keys, workdir: Path
) -> None:
    _git(workdir, "init", "-q", "-b", "main")
    (workdir / "README.md").write_text("# app\n")
    _git(workdir, "add", ".")
    _git(workdir, "commit", "-qm", "Start")
    (workdir / "config.py").write_text(f"DEBUG = True\nKEY = '{keys.live}'\n")
    _git(workdir, "add", ".")
    _git(workdir, "commit", "-qm", "Configure")
    added = _git(workdir, "rev-parse", "--short", "HEAD")
    (workdir / "config.py").write_text("DEBUG = True\nKEY = os.environ['KEY']\n")
    _git(workdir, "commit", "-qam", "Read the key from the environment")

    tree = scan(workdir)
    history = scan("--git", workdir)

    assert tree.code == 0
    assert tree.lines[0] == "no project keys found"
    assert history.code == 1
    assert history.lines[0] == (
        f"config.py@{added}:2: live key {keys.live_id} (start tlx_{keys.live_id[:4]})"
    )


def test_git_on_a_folder_that_is_no_repository_is_a_usage_error(
    scan_offline: Scanner, workdir: Path
) -> None:
    result = scan_offline("--git", "--offline", workdir)

    assert result.code == 2
    assert "not a git repository" in result.err


# --- Skipped, never fatal -------------------------------------------------------------------


def test_binary_huge_and_unreadable_files_are_skipped_and_counted(
    scan_offline: Scanner, workdir: Path
) -> None:
    key = tokens.new_project_key(tokens.new_key_id())
    scan_offline.secrets.append(key)
    (workdir / "image.png").write_bytes(b"\x89PNG\0\0" + key.encode())
    (workdir / "dump.sql").write_text(f"-- {key}\n" + "x" * 2048)
    (workdir / "gone.txt").symlink_to(workdir / "nowhere.txt")
    os.mkfifo(workdir / "pipe")
    (workdir / "loop").symlink_to(workdir)  # a folder symlink: not followed
    (workdir / "ok.txt").write_text("nothing here\n")

    result = scan_offline("--offline", "--max-file-size", "1K", workdir)

    assert result.code == 0
    assert result.lines == [
        "no project keys found",
        result.lines[1],
    ]
    assert result.lines[1].startswith("scanned 1 file (0.0 MB) in ")
    assert result.lines[1].endswith(
        "; skipped: 1 binary, 1 too large, 1 unreadable, 1 not a regular file"
    )


@pytest.mark.parametrize("chunk_size", [1, 7, 54, 55, 56, 4096])
def test_keys_across_chunk_boundaries_are_found_once_on_their_line(
    scan_offline: Scanner, workdir: Path, monkeypatch: pytest.MonkeyPatch, chunk_size: int
) -> None:
    monkeypatch.setattr(scanner, "CHUNK_SIZE", chunk_size)
    key = tokens.new_project_key(tokens.new_key_id())
    scan_offline.secrets.append(key)
    (workdir / "a.txt").write_text(f"ab\n{key}\n\nx{key} {key}_ {key}\n{key}")

    result = scan_offline("--offline", "--format", "json", "a.txt")

    assert [finding["line"] for finding in result.json()["findings"]] == [2, 4, 5]


def test_a_fifo_named_on_the_command_line_is_read(scan_offline: Scanner, workdir: Path) -> None:
    key = tokens.new_project_key(tokens.new_key_id())
    scan_offline.secrets.append(key)
    os.mkfifo(workdir / "pipe")

    def write() -> None:
        with open(workdir / "pipe", "w") as pipe:
            pipe.write(f"first\n{key}\n")

    writer = threading.Thread(target=write)
    writer.start()
    result = scan_offline("--offline", "pipe")
    writer.join()

    assert result.code == 1
    assert result.lines[0] == f"pipe:2: unchecked key {key[4:16]} (start {key[:8]})"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a folder whatever its permissions")
def test_a_folder_that_cannot_be_listed_is_counted_as_unreadable(
    scan_offline: Scanner, workdir: Path
) -> None:
    locked = workdir / "locked"
    locked.mkdir()
    (locked / "secret.txt").write_text("x\n")
    locked.chmod(0)
    try:
        result = scan_offline("--offline", workdir)
    finally:
        locked.chmod(0o700)

    assert result.code == 0
    assert result.lines[-1].endswith("skipped: 1 unreadable")


def test_offline_reports_checksum_valid_keys_as_unchecked_and_exits_1(
    scan_offline: Scanner, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No database at all: --offline must not need one.
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    key = tokens.new_project_key(tokens.new_key_id())
    lookalike = key[:-1] + ("A" if key[-1] != "A" else "B")
    scan_offline.secrets.extend([key, lookalike])
    (workdir / "with_key.txt").write_text(f"{key}\n")
    (workdir / "lookalike.txt").write_text(f"{lookalike}\n")

    found = scan_offline("--offline", "with_key.txt", "lookalike.txt")
    lookalike_only = scan_offline("--offline", "lookalike.txt")

    assert found.code == 1
    assert found.lines[0] == f"with_key.txt:1: unchecked key {key[4:16]} (start {key[:8]})"
    assert lookalike_only.code == 0


# --- Exit code 2 ----------------------------------------------------------------------------


def test_a_path_that_does_not_exist_is_a_usage_error(scan_offline: Scanner, workdir: Path) -> None:
    result = scan_offline("--offline", "no-such-file.txt")

    assert result.code == 2
    assert result.err == "error: no-such-file.txt: no such file or folder\n"


def test_an_unreachable_database_exits_2(
    scan_offline: Scanner, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TRAYLINX_VAR_DIR", str(workdir / "var"))
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody:hunter2@127.0.0.1:1/none")
    (workdir / "a.txt").write_text("nothing\n")

    result = scan_offline("a.txt")

    assert result.code == 2
    assert result.err.startswith("error: cannot use the database at postgresql://127.0.0.1:1/")
    assert "hunter2" not in result.err


def test_a_sqlite_database_that_does_not_exist_is_not_created(
    scan_offline: Scanner, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    missing = workdir / "var" / "none.sqlite3"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{missing}")
    (workdir / "a.txt").write_text("nothing\n")

    result = scan_offline("a.txt")

    assert result.code == 2
    assert result.err.startswith(f"error: there is no database at sqlite:///{missing}")
    assert not missing.exists()


def test_revoke_and_offline_together_are_a_usage_error(
    scan_offline: Scanner, workdir: Path
) -> None:
    result = scan_offline("--offline", "--revoke", "--yes", ".")

    assert result.code == 2
    assert "--offline" in result.err


# --- Revoking -------------------------------------------------------------------------------


def test_revoke_yes_revokes_the_live_keys_with_the_scanner_and_place_on_record(
    scan: Scanner, keys: Keys, settings: Settings, workdir: Path
) -> None:
    (workdir / "deploy.sh").write_text(f"#!/bin/sh\ncurl -H 'Authorization: {keys.live}'\n")
    (workdir / "old.txt").write_text(f"{keys.deleted}\n")

    result = scan("--revoke", "--yes", ".")
    again = scan(".")

    assert result.code == 0
    assert result.lines[0].endswith(", revoked")
    assert "revoked all live keys found (1)" in result.lines
    assert again.code == 0
    assert again.lines[0].startswith("deploy.sh:2: deleted key")
    _activate(settings)
    [event] = _audit_events()
    assert event["actor_system"] == "scanner"
    assert event["target_id"] == keys.live_id
    details = event["details"]
    details = json.loads(details) if isinstance(details, str) else details
    assert details["foundAt"] == "deploy.sh:2"
    assert details["reportedBy"] == "scanner"


def test_revoke_without_yes_and_without_a_terminal_refuses(
    scan: Scanner, keys: Keys, settings: Settings, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    (workdir / "a.txt").write_text(f"{keys.live}\n")

    result = scan("--revoke", ".")
    after = scan(".")

    assert result.code == 2
    assert "add --yes" in result.err
    assert after.lines[0].startswith("a.txt:1: live key")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_revoke_asks_first_and_a_no_revokes_nothing(
    scan: Scanner, keys: Keys, settings: Settings, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", _Terminal("n\n"))
    (workdir / "a.txt").write_text(f"{keys.live}\n")

    result = scan("--revoke", ".")

    assert result.code == 1
    assert f"Revoke 1 live key: {keys.live_id} (tlx_{keys.live_id[:4]})?" in result.err
    assert "nothing revoked" in result.err
    _activate(settings)
    assert _audit_events() == []


def test_the_statuses_named_are_the_services_own() -> None:
    assert tuple(status.value for status in KeyStatus) == STATUSES


# --- A real process -------------------------------------------------------------------------


def test_python_m_app_scan_in_its_own_process(
    keys: Keys, settings: Settings, tmp_path: Path, workdir: Path
) -> None:
    (workdir / "app.env").write_text(f"TRAYLINX_KEY={keys.live}\n")
    env = {**os.environ, **_scanner_env(settings, tmp_path)}

    done = subprocess.run(
        [sys.executable, "-m", "app", "scan", "--format", "json", str(workdir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    result = Result(done.returncode, done.stdout, done.stderr)
    assert_no_secret(result, keys.secrets)
    assert result.code == 1, result.err
    [finding] = result.json()["findings"]
    assert finding["place"] == f"{workdir / 'app.env'}:1"
    assert finding["status"] == "live"
