"""Provider secrets at rest: AES-256-GCM bound to the row, keyring rotation, wrong keyrings."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar

from app import db
from app.clock import SystemClock
from app.llm_keys.tables import LlmApiKey
from app.main import create_app
from app.security.crypto import (
    DecryptionFailed,
    EncryptionKey,
    Keyring,
    MissingEncryptionKey,
    envelope_key_id,
)
from app.services import Services
from app.settings import Settings, SettingsError
from tests.conftest import TEST_ENV, TEST_HASHER, TEST_KEYRING, running
from tests.graphql_client import GraphQLClient
from tests.helpers import add_llm_key, create_project, sign_up
from tests.storage import database_bytes

ROOT = Path(__file__).resolve().parent.parent
SECRETS = ["sk-openai-PLAINTEXT-one-0123456789", "sk-ant-PLAINTEXT-two-9876543210"]


async def _two_keys(gql: GraphQLClient) -> list[dict[str, Any]]:
    owner = await sign_up(gql)
    project = await create_project(gql, owner)
    other = await create_project(gql, owner, "Other")
    return [
        await add_llm_key(gql, owner, project["id"], provider="OPENAI", secret_key=SECRETS[0]),
        await add_llm_key(gql, owner, other["id"], provider="ANTHROPIC", secret_key=SECRETS[1]),
    ]


def _services(app: Litestar) -> Services:
    services: Services = app.state.services
    return services


async def test_no_plaintext_secret_is_stored(
    gql: GraphQLClient, app: Litestar, settings: Settings
) -> None:
    await _two_keys(gql)

    stored = database_bytes(settings)

    for secret in SECRETS:
        assert secret.encode() not in stored
        assert secret[-12:].encode() not in stored


async def test_stored_secrets_are_versioned_envelopes_under_the_newest_key(
    gql: GraphQLClient,
) -> None:
    await _two_keys(gql)

    rows = await LlmApiKey.select(LlmApiKey.secret_ciphertext, LlmApiKey.encryption_key_id)

    for row in rows:
        assert row["secret_ciphertext"].startswith(f"v1.{TEST_KEYRING.id}.")
        assert row["encryption_key_id"] == TEST_KEYRING.id


async def test_a_tampered_ciphertext_is_detected(gql: GraphQLClient, app: Litestar) -> None:
    key = (await _two_keys(gql))[0]
    row = (
        await LlmApiKey.select(LlmApiKey.secret_ciphertext)
        .where(LlmApiKey.id == uuid.UUID(key["id"]))
        .first()
    )
    version, key_id, payload = row["secret_ciphertext"].split(".")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    async with db.transaction():
        await LlmApiKey.update(
            {LlmApiKey.secret_ciphertext: f"{version}.{key_id}.{flipped}"}
        ).where(LlmApiKey.id == uuid.UUID(key["id"]))

    with pytest.raises(DecryptionFailed) as failure:
        await _services(app).llm_keys.reveal_secret(uuid.UUID(key["id"]))

    assert SECRETS[0] not in repr(failure.value)


async def test_a_ciphertext_copied_to_another_row_does_not_decrypt(
    gql: GraphQLClient, app: Litestar
) -> None:
    first, second = await _two_keys(gql)
    source = (
        await LlmApiKey.select(LlmApiKey.secret_ciphertext)
        .where(LlmApiKey.id == uuid.UUID(first["id"]))
        .first()
    )
    async with db.transaction():
        await LlmApiKey.update({LlmApiKey.secret_ciphertext: source["secret_ciphertext"]}).where(
            LlmApiKey.id == uuid.UUID(second["id"])
        )

    with pytest.raises(DecryptionFailed):
        await _services(app).llm_keys.reveal_secret(uuid.UUID(second["id"]))
    assert await _services(app).llm_keys.reveal_secret(uuid.UUID(first["id"])) == SECRETS[0]


def test_each_encryption_uses_a_fresh_nonce() -> None:
    keyring = Keyring([TEST_KEYRING])

    first = keyring.encrypt("same secret", b"row")
    second = keyring.encrypt("same secret", b"row")

    assert first != second
    assert keyring.decrypt(first, b"row") == keyring.decrypt(second, b"row") == "same secret"


def test_a_keyring_without_the_sealing_key_names_it() -> None:
    envelope = Keyring([EncryptionKey.generate("old")]).encrypt("secret", b"row")

    with pytest.raises(MissingEncryptionKey, match="'old'"):
        Keyring([EncryptionKey.generate("new")]).decrypt(envelope, b"row")


def test_the_keyring_never_shows_key_material() -> None:
    key = EncryptionKey.generate("k1")

    shown = repr(key) + repr(Keyring([key]))

    assert key.encode().split(":")[1] not in shown
    assert "k1" in shown


async def test_rotation_reencrypts_every_row_and_a_second_run_changes_nothing(
    gql: GraphQLClient, app: Litestar, settings: Settings
) -> None:
    keys = await _two_keys(gql)
    new_key = EncryptionKey.generate("test2")
    env = {
        **os.environ,
        **TEST_ENV,
        "DATABASE_URL": settings.database.url,
        "TRAYLINX_ENCRYPTION_KEYS": f"{new_key.encode()},{TEST_KEYRING.encode()}",
    }

    # In a thread: the app under test keeps running meanwhile, so a write its background work
    # began is committed instead of holding SQLite's lock while the command waits for it.
    first = await asyncio.to_thread(_cli, ["rotate-encryption-key"], env)
    second = await asyncio.to_thread(_cli, ["rotate-encryption-key"], env)

    assert first.returncode == 0, first.stderr
    assert "done: 2 re-encrypted, 0 already under 'test2'" in first.stdout
    assert "done: 0 re-encrypted, 2 already under 'test2'" in second.stdout
    rows = await LlmApiKey.select(LlmApiKey.secret_ciphertext, LlmApiKey.encryption_key_id)
    assert {row["encryption_key_id"] for row in rows} == {"test2"}
    assert {envelope_key_id(row["secret_ciphertext"]) for row in rows} == {"test2"}
    only_new = _services(app).llm_keys
    only_new._keyring = Keyring([new_key])  # the old key can now be retired
    assert [await only_new.reveal_secret(uuid.UUID(k["id"])) for k in keys] == SECRETS


async def test_an_interrupted_rotation_resumes_where_it_stopped(
    gql: GraphQLClient, settings: Settings
) -> None:
    await _two_keys(gql)
    rotated = replace(settings, keyring=Keyring([EncryptionKey.generate("test2"), TEST_KEYRING]))
    service = Services.build(rotated, SystemClock()).llm_keys

    def interrupt(done: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await service.rotate_encryption(batch_size=1, on_batch=interrupt)
    halfway = await LlmApiKey.count().where(LlmApiKey.encryption_key_id == "test2")
    report = await service.rotate_encryption(batch_size=1)

    assert halfway == 1
    assert (report.rotated, report.already_current) == (1, 1)


async def test_a_start_with_a_keyring_missing_a_stored_key_fails_with_one_line(
    gql: GraphQLClient, settings: Settings
) -> None:
    await _two_keys(gql)
    env = {
        **os.environ,
        **TEST_ENV,
        "DATABASE_URL": settings.database.url,
        "TRAYLINX_ENCRYPTION_KEYS": EncryptionKey.generate("stranger").encode(),
    }

    result = await asyncio.to_thread(_cli, ["serve", "--port", "9"], env)

    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "key id 'test1'" in result.stderr
    assert "Traceback" not in result.stderr


async def test_the_app_refuses_to_start_with_a_keyring_missing_a_stored_key(
    gql: GraphQLClient, settings: Settings
) -> None:
    await _two_keys(gql)
    stranger = replace(settings, keyring=Keyring([EncryptionKey.generate("stranger")]))

    # Litestar's lifespan runs in a task group, which wraps what start-up raised.
    with pytest.RaisesGroup(pytest.RaisesExc(MissingEncryptionKey, match="'test1'")):
        async with running(create_app(stranger, hasher=TEST_HASHER)):
            pass


async def test_provider_secrets_never_reach_the_log(
    gql: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    keys = await _two_keys(gql)

    assert keys
    for secret in SECRETS:
        assert secret not in caplog.text


def test_production_without_encryption_keys_refuses_to_start() -> None:
    with pytest.raises(SettingsError, match="TRAYLINX_ENCRYPTION_KEYS is required in production"):
        Settings.from_env({"TRAYLINX_ENV": "production", "TRAYLINX_SECRET_KEY": "s" * 40})


@pytest.mark.parametrize(
    "value", ["no-colon", "k1:not base64!", "k1:" + "QUFB", "bad id!:" + TEST_KEYRING.encode()[6:]]
)
def test_a_malformed_keyring_refuses_to_start(value: str) -> None:
    with pytest.raises(SettingsError, match="TRAYLINX_ENCRYPTION_KEYS"):
        Settings.from_env({"TRAYLINX_SECRET_KEY": "s" * 40, "TRAYLINX_ENCRYPTION_KEYS": value})


def test_development_generates_a_keyring_once_with_owner_only_permissions(tmp_path: Path) -> None:
    first = Settings.from_env({"TRAYLINX_SECRET_KEY": "s" * 40, "TRAYLINX_VAR_DIR": str(tmp_path)})
    second = Settings.from_env({"TRAYLINX_SECRET_KEY": "s" * 40, "TRAYLINX_VAR_DIR": str(tmp_path)})

    envelope = first.keyring.encrypt("x", b"row")
    assert second.keyring.decrypt(envelope, b"row") == "x"
    assert stat.S_IMODE((tmp_path / "encryption_keys").stat().st_mode) == 0o600


def test_generate_encryption_key_prints_a_usable_entry() -> None:
    result = _cli(["generate-encryption-key"], {**os.environ})

    keyring = Keyring.parse(result.stdout.strip())
    assert keyring.decrypt(keyring.encrypt("x", b"r"), b"r") == "x"


def _cli(arguments: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *arguments],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
