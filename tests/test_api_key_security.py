"""Project keys under attack and under load: bad bearers, secrets at rest and in logs, races,
and revocation seen by another server process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar

from app import db
from app.api_keys.lookup import KEY_ROWS, StoredKey, open_key_lookup
from app.api_keys.service import IssuedKey
from app.api_keys.tables import ApiKey
from app.api_keys.verifier import ApiKeyAuthenticator, LastUseRecorder
from app.clock import FrozenClock
from app.db.lookup import PostgresLookup, SQLiteLookup
from app.security import tokens
from app.security.guard import BearerRejected
from app.services import Services
from app.settings import Settings
from tests.conftest import CLIENT_IP, serving
from tests.graphql_client import GraphQLClient
from tests.helpers import (
    DELETE_KEY,
    LOG_IN,
    PASSWORD,
    UPDATE_NOTE,
    create_key,
    create_project,
    sign_up,
)
from tests.processes import server_process
from tests.storage import database_bytes

PROJECT_NAME = "{ viewer { ... on Project { id name } } }"
ROOT = Path(__file__).resolve().parent.parent


def _valid_shape_unknown_key() -> str:
    return tokens.new_project_key(tokens.new_key_id())


def _bad_checksum(key: str) -> str:
    last = "A" if key[-1] != "A" else "B"
    return key[:-1] + last


@pytest.mark.parametrize(
    "make_bearer",
    [
        pytest.param(lambda key: "tlz_" + key[4:], id="wrong-prefix"),
        pytest.param(_bad_checksum, id="bad-checksum"),
        pytest.param(lambda key: key[:-1], id="truncated"),
        pytest.param(lambda key: _valid_shape_unknown_key(), id="unknown-id"),
        pytest.param(
            lambda key: key[:16] + "_" + _valid_shape_unknown_key()[17:], id="known-id-wrong-secret"
        ),
        pytest.param(lambda key: "tlx_" + "x" * 10_000, id="10kb-garbage"),
    ],
)
async def test_a_bad_project_key_gets_401(gql: GraphQLClient, make_bearer: Any) -> None:
    owner = await sign_up(gql)
    project = await create_project(gql, owner)
    key = await create_key(gql, owner, project["id"])

    response = await gql.post(PROJECT_NAME, token=make_bearer(key["secret"]))

    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


class _NoDatabase:
    """A lookup that must not be reached: malformed keys are refused before any I/O."""

    async def find(self, key_id: str) -> None:
        raise AssertionError(f"looked up {key_id!r}")

    async def close(self) -> None:
        return None


@pytest.mark.parametrize(
    "bearer",
    ["tlx_", "tlx_" + "x" * 10_000, "tlx_abcdefghijkl_" + "a" * 38, "tlx_abcdefghijkl-" + "a" * 38],
)
async def test_malformed_keys_are_refused_without_touching_the_database(bearer: str) -> None:
    authenticator = ApiKeyAuthenticator(FrozenClock(), LastUseRecorder())
    authenticator.attach(_NoDatabase())

    with pytest.raises(BearerRejected) as rejected:
        await authenticator.authenticate(bearer, "127.0.0.1")

    assert bearer not in repr(rejected.value)
    assert bearer not in str(rejected.value)


def test_an_issued_keys_repr_hides_the_secret() -> None:
    secret = tokens.new_project_key(tokens.new_key_id())

    issued = IssuedKey(key=None, secret=secret)  # type: ignore[arg-type]

    assert secret not in repr(issued)


async def _full_scenario(gql: GraphQLClient) -> list[str]:
    """Everything a project does with keys; returns every secret that was issued."""
    owner = await sign_up(gql)
    project = await create_project(gql, owner)
    kept = await create_key(gql, owner, project["id"], note="kept")
    deleted = await create_key(gql, owner, project["id"], note="deleted")
    await gql.post(PROJECT_NAME, token=kept["secret"])
    await gql.post(PROJECT_NAME, token=deleted["secret"])
    await gql.execute(
        UPDATE_NOTE, {"input": {"id": kept["id"], "note": "renamed"}}, owner.access_token
    )
    await gql.execute(DELETE_KEY, {"input": {"id": deleted["id"]}}, owner.access_token)
    await gql.post(PROJECT_NAME, token=deleted["secret"])
    login = await gql.execute(LOG_IN, {"input": {"email": owner.email, "password": PASSWORD}})
    return [
        kept["secret"],
        deleted["secret"],
        owner.refresh_token,
        owner.access_token,
        login["logIn"]["refreshToken"],
        PASSWORD,
    ]


def _secret_fragments(secret: str) -> list[str]:
    # The whole value, and for project keys the random part alone.
    if secret.startswith("tlx_"):
        return [secret, secret[len("tlx_") + 13 : -6]]
    return [secret]


async def test_no_secret_is_stored_in_the_database(
    gql: GraphQLClient, app: Litestar, settings: Settings
) -> None:
    secrets_issued = await _full_scenario(gql)
    services: Services = app.state.services
    await services.last_use.flush()

    stored = database_bytes(settings)

    assert len(stored) > 1000
    for secret in secrets_issued:
        for fragment in _secret_fragments(secret):
            assert fragment.encode() not in stored


async def test_no_secret_reaches_the_log(
    gql: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    secrets_issued = await _full_scenario(gql)

    assert "rejected bearer credential" in caplog.text  # the deleted key was refused and logged
    for secret in secrets_issued:
        for fragment in _secret_fragments(secret):
            assert fragment not in caplog.text


async def test_last_use_is_recorded_at_most_once_a_minute(
    gql: GraphQLClient, app: Litestar, clock: FrozenClock
) -> None:
    services: Services = app.state.services
    owner = await sign_up(gql)
    project = await create_project(gql, owner)
    key = await create_key(gql, owner, project["id"])

    await gql.post(PROJECT_NAME, token=key["secret"])
    await gql.post(PROJECT_NAME, token=key["secret"])
    first_flush = await services.last_use.flush()
    clock.advance(timedelta(seconds=30))
    await gql.post(PROJECT_NAME, token=key["secret"])
    within_the_minute = await services.last_use.flush()
    clock.advance(timedelta(seconds=31))
    await gql.post(PROJECT_NAME, token=key["secret"])
    after_the_minute = await services.last_use.flush()

    row = (
        await ApiKey.select(ApiKey.last_used_at, ApiKey.last_used_ip)
        .where(ApiKey.id == key["id"])
        .first()
    )
    assert (first_flush, within_the_minute, after_the_minute) == (1, 0, 1)
    assert row["last_used_at"] == clock.now()
    assert row["last_used_ip"] == CLIENT_IP


async def test_pending_last_use_is_written_on_shutdown(
    gql: GraphQLClient, settings: Settings
) -> None:
    owner = await sign_up(gql)
    project = await create_project(gql, owner)
    key = await create_key(gql, owner, project["id"])

    async with serving(settings) as other:
        response = await other.post(
            "/graphql",
            json={"query": PROJECT_NAME},
            headers={"Authorization": f"Bearer {key['secret']}"},
        )
        assert response.status_code == 200

    row = await ApiKey.select(ApiKey.last_used_at).where(ApiKey.id == key["id"]).first()
    assert row["last_used_at"] is not None


async def test_fifty_parallel_creates_give_fifty_distinct_working_keys(gql: GraphQLClient) -> None:
    owner = await sign_up(gql)
    project = await create_project(gql, owner)

    keys = await asyncio.gather(
        *(create_key(gql, owner, project["id"], note=f"parallel {i}") for i in range(50))
    )

    assert len({key["secret"] for key in keys}) == 50
    assert len({key["id"] for key in keys}) == 50
    statuses = await asyncio.gather(*(gql.post(PROJECT_NAME, token=k["secret"]) for k in keys))
    assert {response.status_code for response in statuses} == {200}


async def test_no_request_gets_through_after_the_delete_returned(gql: GraphQLClient) -> None:
    owner = await sign_up(gql)
    project = await create_project(gql, owner)
    key = await create_key(gql, owner, project["id"])
    results: list[tuple[float, int]] = []
    deleted_at: list[float] = []

    async def hammer() -> None:
        while not deleted_at or time.monotonic() < deleted_at[0] + 0.3:
            started = time.monotonic()
            response = await gql.post(PROJECT_NAME, token=key["secret"])
            results.append((started, response.status_code))

    async def delete_soon() -> None:
        await asyncio.sleep(0.1)
        await gql.execute(DELETE_KEY, {"input": {"id": key["id"]}}, owner.access_token)
        deleted_at.append(time.monotonic())

    await asyncio.gather(*(hammer() for _ in range(4)), delete_soon())

    after = [status for started, status in results if started >= deleted_at[0]]
    before = [status for started, status in results if started < deleted_at[0]]
    assert after
    assert set(after) == {401}
    assert 200 in before


# --- two server processes on one database ------------------------------------------------------


@pytest.mark.slow
async def test_a_key_deleted_on_one_server_is_refused_by_another_at_once(
    database_url: str, tmp_path: Path
) -> None:
    async with (
        server_process(database_url, tmp_path / "a") as a,
        server_process(database_url, tmp_path / "b") as b,
    ):
        gql_a, gql_b = GraphQLClient(a), GraphQLClient(b)
        owner = await sign_up(gql_a)
        project = await create_project(gql_a, owner)
        key = await create_key(gql_a, owner, project["id"])
        before = await gql_b.post(PROJECT_NAME, token=key["secret"])

        await gql_a.execute(DELETE_KEY, {"input": {"id": key["id"]}}, owner.access_token)
        after = await gql_b.post(PROJECT_NAME, token=key["secret"])

    assert before.status_code == 200
    assert after.status_code == 401


async def test_the_lookup_sees_a_deletion_committed_elsewhere_at_once(
    app: Litestar, gql: GraphQLClient
) -> None:
    owner = await sign_up(gql)
    project = await create_project(gql, owner)
    key = await create_key(gql, owner, project["id"])
    lookup = open_key_lookup()  # SQLite's keeps rows until the database changes; PostgreSQL's none
    try:
        kept = await lookup.find(key["id"])
        await gql.execute(DELETE_KEY, {"input": {"id": key["id"]}}, owner.access_token)
        after = await lookup.find(key["id"])
    finally:
        await lookup.close()

    assert kept is not None
    assert kept.deleted_at is None
    assert after is not None
    assert after.deleted_at is not None


async def test_made_up_key_ids_cannot_grow_what_the_sqlite_lookup_keeps(tmp_path: Path) -> None:
    path = tmp_path / "keys.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.executescript(
            "CREATE TABLE projects (id TEXT PRIMARY KEY, llm_keys_version INTEGER, budgets TEXT);"
            "CREATE TABLE api_keys (id TEXT PRIMARY KEY, project TEXT, secret_digest TEXT,"
            " expires_at TEXT, deleted_at TEXT, policy TEXT);"
        )
    lookup = SQLiteLookup(str(path), KEY_ROWS, kept_rows=3)
    try:
        for index in range(10):
            assert await lookup.find(f"unknown{index:05d}") is None
        assert len(lookup._kept) <= 3
    finally:
        await lookup.close()


class _ObservedLookup(PostgresLookup[str, StoredKey]):
    """The PostgreSQL lookup, with each query's ids recorded and its answer held until `opened`."""

    def __init__(self, *, max_queries: int, held: bool = False) -> None:
        super().__init__(db.engine(), KEY_ROWS, max_queries=max_queries)
        self.queries: list[list[str]] = []
        self.opened = asyncio.Event()
        if not held:
            self.opened.set()
        self.has_read = asyncio.Event()  # a query has read its rows
        self.fail_next: BaseException | None = None

    async def _read(self, key_ids: list[str]) -> dict[str, StoredKey]:
        self.queries.append(list(key_ids))
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        found = await super()._read(key_ids)
        self.has_read.set()
        await self.opened.wait()
        return found


async def _keys_of_one_project(gql: GraphQLClient, count: int) -> tuple[str, list[str]]:
    owner = await sign_up(gql)
    project = await create_project(gql, owner)
    keys = [await create_key(gql, owner, project["id"]) for _ in range(count)]
    return project["id"], [key["id"] for key in keys]


async def _queued_behind_a_held_query(
    lookup: _ObservedLookup, key_id: str, callers: int
) -> tuple[asyncio.Task[StoredKey | None], list[asyncio.Task[StoredKey | None]]]:
    """A first lookup whose query has read and is held, and `callers` lookups waiting behind it."""
    first = asyncio.create_task(lookup.find(key_id))
    await lookup.has_read.wait()
    waiting = [asyncio.create_task(lookup.find(key_id)) for _ in range(callers)]
    await _when_waiting(lookup, callers)
    return first, waiting


async def _when_waiting(lookup: _ObservedLookup, callers: int) -> None:
    # The loop runs each new task up to its first await: waiting lookups are queued by then.
    for _ in range(100):
        if sum(len(answers) for answers in lookup._waiting.values()) >= callers:
            return
        await asyncio.sleep(0)
    raise AssertionError("the lookups never queued")


@pytest.fixture
def postgres_only(engine_name: str) -> None:
    if engine_name != "postgres":
        pytest.skip("the SQLite lookup reads in-process; only PostgreSQL's shares round trips")


@pytest.mark.usefixtures("postgres_only")
async def test_concurrent_postgres_lookups_share_round_trips(
    app: Litestar, gql: GraphQLClient
) -> None:
    project_id, key_ids = await _keys_of_one_project(gql, 5)
    unknown = tokens.new_key_id()
    asked = [*key_ids * 12, unknown, unknown]
    lookup = _ObservedLookup(max_queries=2)
    try:
        found = await asyncio.gather(*(lookup.find(key_id) for key_id in asked))
    finally:
        await lookup.close()

    for key_id, stored in zip(asked, found, strict=True):
        if key_id == unknown:
            assert stored is None
        else:
            assert stored is not None
            assert str(stored.project_id) == project_id
            assert stored.deleted_at is None
    # Two went alone at once; the 60 that came meanwhile shared the next query, one row per id.
    assert len(lookup.queries) == 3
    assert sorted(lookup.queries[2]) == sorted({*key_ids, unknown})
    assert lookup._queries == 0


@pytest.mark.usefixtures("postgres_only")
async def test_a_lookup_begun_after_a_delete_never_gets_an_answer_read_before_it(
    app: Litestar, gql: GraphQLClient
) -> None:
    owner = await sign_up(gql)
    project = await create_project(gql, owner)
    key = await create_key(gql, owner, project["id"])
    lookup = _ObservedLookup(max_queries=1, held=True)
    try:
        # This query has read the key, live, and its answer is still on the way.
        before = asyncio.create_task(lookup.find(key["id"]))
        await lookup.has_read.wait()
        await gql.execute(DELETE_KEY, {"input": {"id": key["id"]}}, owner.access_token)
        after = asyncio.create_task(lookup.find(key["id"]))
        await _when_waiting(lookup, 1)
        lookup.opened.set()
        read_before, read_after = await before, await after
    finally:
        await lookup.close()

    assert read_before is not None
    assert read_before.deleted_at is None
    assert read_after is not None
    assert read_after.deleted_at is not None
    assert lookup.queries == [[key["id"]], [key["id"]]]


@pytest.mark.usefixtures("postgres_only")
async def test_a_caller_giving_up_does_not_take_the_others_answer(
    app: Litestar, gql: GraphQLClient
) -> None:
    _, (key_id,) = await _keys_of_one_project(gql, 1)
    lookup = _ObservedLookup(max_queries=1, held=True)
    try:
        first = asyncio.create_task(lookup.find(key_id))
        quitter = asyncio.create_task(lookup.find(key_id))
        patient = asyncio.create_task(lookup.find(key_id))
        await _when_waiting(lookup, 2)
        quitter.cancel()
        lookup.opened.set()
        answers = await asyncio.gather(first, patient)
    finally:
        await lookup.close()

    assert quitter.cancelled()
    assert all(stored is not None and stored.deleted_at is None for stored in answers)


@pytest.mark.usefixtures("postgres_only")
async def test_a_failed_query_fails_only_its_own_lookups(app: Litestar, gql: GraphQLClient) -> None:
    _, (key_id,) = await _keys_of_one_project(gql, 1)
    lookup = _ObservedLookup(max_queries=1, held=True)
    try:
        first, waiting = await _queued_behind_a_held_query(lookup, key_id, 3)
        lookup.fail_next = ConnectionResetError("connection lost")
        lookup.opened.set()
        outcomes = await asyncio.gather(*waiting, return_exceptions=True)
        assert (await first) is not None
        again = await lookup.find(key_id)
    finally:
        await lookup.close()

    assert all(isinstance(outcome, ConnectionResetError) for outcome in outcomes)
    assert again is not None
    assert lookup._queries == 0


@pytest.mark.usefixtures("postgres_only")
async def test_closing_the_lookup_answers_every_waiting_caller(
    app: Litestar, gql: GraphQLClient
) -> None:
    _, (key_id,) = await _keys_of_one_project(gql, 1)
    lookup = _ObservedLookup(max_queries=1, held=True)
    first, waiting = await _queued_behind_a_held_query(lookup, key_id, 3)
    closing = asyncio.create_task(lookup.close())
    await asyncio.sleep(0)  # close() has begun: the waiters are answered before any query
    lookup.opened.set()
    await closing
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    await first

    assert all(isinstance(outcome, db.DatabaseError) for outcome in outcomes)
    with pytest.raises(db.DatabaseError, match="closed"):
        await lookup.find(key_id)


class _Interrupted(BaseException):
    """Like KeyboardInterrupt, not an Exception; unlike it, not re-raised out of the loop."""


@pytest.mark.usefixtures("postgres_only")
async def test_an_interrupted_query_still_answers_its_callers(
    app: Litestar, gql: GraphQLClient
) -> None:
    _, (key_id,) = await _keys_of_one_project(gql, 1)
    lookup = _ObservedLookup(max_queries=1, held=True)
    try:
        first, waiting = await _queued_behind_a_held_query(lookup, key_id, 2)
        lookup.fail_next = _Interrupted()  # not an Exception: it ends the batch's task
        lookup.opened.set()
        await first
        outcomes = await asyncio.gather(*waiting, return_exceptions=True)
        again = await lookup.find(key_id)
    finally:
        await lookup.close()

    assert all(isinstance(outcome, db.DatabaseError) for outcome in outcomes)
    assert again is not None
