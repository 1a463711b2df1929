"""Accounts: sign-up, login, refresh rotation and reuse detection, logout."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar

from app import db
from app.accounts.tables import LoginAttempt, User
from app.accounts.throttle import address_bucket
from app.clock import FrozenClock
from app.security.jwt import AccessTokenCodec
from app.settings import Settings
from tests.conftest import serving
from tests.graphql_client import GraphQLClient
from tests.helpers import (
    CREATE_PROJECT,
    LOG_IN,
    LOG_OUT,
    PASSWORD,
    REFRESH,
    SIGN_UP,
    VIEWER,
    new_email,
    sign_up,
)


async def test_sign_up_returns_a_working_session(gql: GraphQLClient) -> None:
    session = await sign_up(gql, email="Ada@Example.COM")

    data = await gql.execute(VIEWER, token=session.access_token)

    assert data["viewer"] == {
        "__typename": "User",
        "id": session.user_id,
        "email": "ada@example.com",
    }


async def test_sign_up_reports_every_invalid_field_at_once(gql: GraphQLClient) -> None:
    data = await gql.execute(
        SIGN_UP, {"input": {"email": "not-an-email", "password": "short", "name": "  "}}
    )

    payload = data["signUp"]
    assert payload["accessToken"] is None
    assert {tuple(e["field"]) for e in payload["userErrors"]} == {
        ("email",),
        ("password",),
        ("name",),
    }
    assert {e["code"] for e in payload["userErrors"]} == {"INVALID"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "a" * 250 + "@example.com"),
        ("email", "two@@example.com"),
        ("password", "x" * 11),
        ("password", "x" * 257),
        ("name", "n" * 101),
    ],
)
async def test_sign_up_rejects_bad_values(gql: GraphQLClient, field: str, value: str) -> None:
    good = {"email": new_email(), "password": PASSWORD, "name": "Ada"}

    data = await gql.execute(SIGN_UP, {"input": {**good, field: value}})

    assert [e["field"] for e in data["signUp"]["userErrors"]] == [[field]]


async def test_sign_up_with_a_taken_email_is_already_exists(gql: GraphQLClient) -> None:
    email = new_email()
    await sign_up(gql, email=email)

    data = await gql.execute(
        SIGN_UP, {"input": {"email": email.upper(), "password": PASSWORD, "name": "Other"}}
    )

    assert data["signUp"]["userErrors"] == [
        {
            "field": ["email"],
            "message": "An account with this email already exists.",
            "code": "ALREADY_EXISTS",
        }
    ]


async def test_log_in_with_the_right_password_starts_a_session(gql: GraphQLClient) -> None:
    session = await sign_up(gql)

    data = await gql.execute(LOG_IN, {"input": {"email": session.email, "password": PASSWORD}})

    assert data["logIn"]["user"]["id"] == session.user_id
    assert data["logIn"]["accessToken"]


async def test_wrong_password_and_unknown_email_get_the_same_answer(gql: GraphQLClient) -> None:
    session = await sign_up(gql)

    wrong_password = await gql.execute(
        LOG_IN, {"input": {"email": session.email, "password": "not the password!"}}
    )
    unknown_email = await gql.execute(
        LOG_IN, {"input": {"email": new_email(), "password": PASSWORD}}
    )

    assert wrong_password == unknown_email
    assert wrong_password["logIn"]["userErrors"][0]["code"] == "INVALID_CREDENTIALS"


async def test_refresh_rotates_the_refresh_token(gql: GraphQLClient) -> None:
    session = await sign_up(gql)

    data = await gql.execute(REFRESH, {"input": {"refreshToken": session.refresh_token}})

    payload = data["refreshSession"]
    assert payload["userErrors"] == []
    assert payload["refreshToken"] != session.refresh_token
    assert (await gql.execute(VIEWER, token=payload["accessToken"]))["viewer"]["id"] == (
        session.user_id
    )


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(
    gql: GraphQLClient,
) -> None:
    session = await sign_up(gql)
    first = await gql.execute(REFRESH, {"input": {"refreshToken": session.refresh_token}})
    newest = first["refreshSession"]["refreshToken"]

    reuse = await gql.execute(REFRESH, {"input": {"refreshToken": session.refresh_token}})
    after_reuse = await gql.execute(REFRESH, {"input": {"refreshToken": newest}})

    assert reuse["refreshSession"]["userErrors"][0]["code"] == "INVALID_REFRESH_TOKEN"
    assert after_reuse["refreshSession"]["userErrors"][0]["code"] == "INVALID_REFRESH_TOKEN"


async def test_unknown_refresh_token_is_rejected(gql: GraphQLClient) -> None:
    data = await gql.execute(REFRESH, {"input": {"refreshToken": "tlr_nothing"}})

    assert data["refreshSession"]["userErrors"][0]["code"] == "INVALID_REFRESH_TOKEN"
    assert data["refreshSession"]["accessToken"] is None


async def test_expired_refresh_token_is_rejected(gql: GraphQLClient, clock: FrozenClock) -> None:
    session = await sign_up(gql)
    clock.advance(timedelta(days=31))

    data = await gql.execute(REFRESH, {"input": {"refreshToken": session.refresh_token}})

    assert data["refreshSession"]["userErrors"][0]["code"] == "INVALID_REFRESH_TOKEN"


async def test_log_out_revokes_the_refresh_token(gql: GraphQLClient) -> None:
    session = await sign_up(gql)

    out = await gql.execute(
        LOG_OUT, {"input": {"refreshToken": session.refresh_token}}, session.access_token
    )
    refresh = await gql.execute(REFRESH, {"input": {"refreshToken": session.refresh_token}})

    assert out["logOut"] == {"ok": True, "userErrors": []}
    assert refresh["refreshSession"]["userErrors"][0]["code"] == "INVALID_REFRESH_TOKEN"


async def test_log_out_with_someone_elses_refresh_token_is_rejected(gql: GraphQLClient) -> None:
    ada = await sign_up(gql)
    bob = await sign_up(gql)

    out = await gql.execute(
        LOG_OUT, {"input": {"refreshToken": bob.refresh_token}}, ada.access_token
    )
    bob_refresh = await gql.execute(REFRESH, {"input": {"refreshToken": bob.refresh_token}})

    assert out["logOut"]["userErrors"][0]["code"] == "INVALID_REFRESH_TOKEN"
    assert bob_refresh["refreshSession"]["userErrors"] == []


async def test_log_out_needs_a_session(gql: GraphQLClient) -> None:
    errors = await gql.errors(LOG_OUT, {"input": {"refreshToken": "tlr_x"}})

    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_access_token_expires_after_its_lifetime(
    gql: GraphQLClient, clock: FrozenClock
) -> None:
    session = await sign_up(gql)
    clock.advance(timedelta(minutes=15, seconds=1))

    response = await gql.post(VIEWER, token=session.access_token)

    assert response.status_code == 401


async def test_password_is_stored_as_an_argon2id_hash(gql: GraphQLClient) -> None:
    from app.accounts.tables import User

    session = await sign_up(gql)

    row = await User.select(User.password_hash).where(User.email == session.email).first()

    assert row["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in row["password_hash"]


async def _log_in(gql: GraphQLClient, email: str, password: str) -> dict[str, Any]:
    data = await gql.execute(LOG_IN, {"input": {"email": email, "password": password}})
    payload: dict[str, Any] = data["logIn"]
    return payload


async def test_too_many_attempts_on_an_account_pause_it_for_the_window(
    gql: GraphQLClient, clock: FrozenClock
) -> None:
    session = await sign_up(gql)
    for _ in range(10):
        failed = await _log_in(gql, session.email, "not the password!")
        assert failed["userErrors"][0]["code"] == "INVALID_CREDENTIALS"

    refused = await _log_in(gql, session.email.upper(), PASSWORD)  # even the right password

    assert refused["accessToken"] is None
    assert refused["userErrors"] == [
        {
            "field": ["email"],
            "message": "Too many login attempts. Try again in 15 minutes.",
            "code": "TOO_MANY_ATTEMPTS",
        }
    ]
    clock.advance(timedelta(minutes=15, seconds=1))
    assert (await _log_in(gql, session.email, PASSWORD))["accessToken"]


async def test_a_successful_login_clears_the_accounts_attempts(gql: GraphQLClient) -> None:
    session = await sign_up(gql)
    for _ in range(9):
        await _log_in(gql, session.email, "not the password!")
    assert (await _log_in(gql, session.email, PASSWORD))["accessToken"]

    for _ in range(10):
        failed = await _log_in(gql, session.email, "still not it")
        assert failed["userErrors"][0]["code"] == "INVALID_CREDENTIALS"
    last = await _log_in(gql, session.email, "still not it")
    assert last["userErrors"][0]["code"] == "TOO_MANY_ATTEMPTS"


async def test_a_paused_account_is_not_checked_against_its_password_hash(
    app: Litestar, gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = await sign_up(gql)
    for _ in range(10):
        await _log_in(gql, session.email, "not the password!")
    hasher = app.state.services.accounts._hasher
    verified: list[str] = []

    async def counting_verify(password: str, stored: str | None) -> bool:
        verified.append(password)
        return False

    monkeypatch.setattr(hasher, "verify", counting_verify)

    await _log_in(gql, session.email, "one more guess")

    assert verified == []


async def test_one_address_guessing_many_accounts_is_paused(
    settings: Settings, app: Litestar
) -> None:
    strict = replace(settings, auth=replace(settings.auth, login_attempts_per_ip=5))
    async with serving(strict) as http:
        gql = GraphQLClient(http)
        owner = await sign_up(gql)
        for _ in range(5):
            failed = await _log_in(gql, new_email(), PASSWORD)
            assert failed["userErrors"][0]["code"] == "INVALID_CREDENTIALS"

        refused = await _log_in(gql, owner.email, PASSWORD)

    assert refused["userErrors"][0]["code"] == "TOO_MANY_ATTEMPTS"


async def test_attempts_keep_no_email_address(gql: GraphQLClient) -> None:
    email = new_email("private")
    await _log_in(gql, email, PASSWORD)

    rows = await LoginAttempt.select()

    assert len(rows) == 1
    assert email not in str(rows)
    assert rows[0]["client_ip"] == "203.0.113.7"


@pytest.mark.parametrize(
    ("client_ip", "bucket"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.4", "198.51.100.4"),
        (None, "unknown"),
        ("not an address at all, and far longer than any column would hold", "unknown"),
    ],
)
def test_addresses_are_counted_by_what_one_client_can_hold(
    client_ip: str | None, bucket: str
) -> None:
    assert address_bucket(client_ip) == bucket


async def test_expired_attempts_are_forgotten_a_bounded_number_at_a_time(
    gql: GraphQLClient, clock: FrozenClock
) -> None:
    long_ago = clock.now() - timedelta(hours=1)
    async with db.transaction():
        await LoginAttempt.insert(
            *[
                LoginAttempt(
                    id=uuid.uuid4(),
                    email_digest="f" * 64,
                    client_ip="192.0.2.1",
                    attempted_at=long_ago,
                )
                for _ in range(1_200)
            ]
        )

    await _log_in(gql, new_email(), PASSWORD)
    left = await LoginAttempt.count().where(LoginAttempt.attempted_at < clock.now())
    await _log_in(gql, new_email(), PASSWORD)
    await _log_in(gql, new_email(), PASSWORD)

    assert left == 700
    assert await LoginAttempt.count().where(LoginAttempt.attempted_at < clock.now()) == 0


async def test_the_owners_login_does_not_reset_guesses_from_elsewhere(app: Litestar) -> None:
    def client_from(ip: str) -> GraphQLClient:
        transport = httpx.ASGITransport(app=app, client=(ip, 40000))
        return GraphQLClient(httpx.AsyncClient(transport=transport, base_url="http://testserver"))

    owner_side, guesser = client_from("198.51.100.1"), client_from("192.0.2.66")
    session = await sign_up(owner_side)
    await _log_in(owner_side, session.email, "my own typo")
    for _ in range(8):
        await _log_in(guesser, session.email, "a guess")

    assert (await _log_in(owner_side, session.email, PASSWORD))["accessToken"]
    # The owner's typo is forgotten; the eight guesses are not: two more attempts fit.
    for _ in range(2):
        failed = await _log_in(guesser, session.email, "a guess")
        assert failed["userErrors"][0]["code"] == "INVALID_CREDENTIALS"
    refused = await _log_in(guesser, session.email, "a guess")
    assert refused["userErrors"][0]["code"] == "TOO_MANY_ATTEMPTS"


# --- Sessions: access tokens end with their session -------------------------------------------


async def test_log_out_ends_the_sessions_access_tokens_at_once(gql: GraphQLClient) -> None:
    session = await sign_up(gql)

    await gql.execute(
        LOG_OUT, {"input": {"refreshToken": session.refresh_token}}, session.access_token
    )

    response = await gql.post(VIEWER, token=session.access_token)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_refresh_token_reuse_ends_the_sessions_access_tokens(gql: GraphQLClient) -> None:
    session = await sign_up(gql)
    first = (await gql.execute(REFRESH, {"input": {"refreshToken": session.refresh_token}}))[
        "refreshSession"
    ]

    await gql.execute(REFRESH, {"input": {"refreshToken": session.refresh_token}})

    for token in (session.access_token, first["accessToken"]):
        assert (await gql.post(VIEWER, token=token)).status_code == 401


async def test_log_out_leaves_the_users_other_sessions_alone(gql: GraphQLClient) -> None:
    session = await sign_up(gql)
    other = (await gql.execute(LOG_IN, {"input": {"email": session.email, "password": PASSWORD}}))[
        "logIn"
    ]

    await gql.execute(
        LOG_OUT, {"input": {"refreshToken": session.refresh_token}}, session.access_token
    )

    assert (await gql.post(VIEWER, token=other["accessToken"])).status_code == 200


async def test_an_access_token_of_a_deleted_user_is_401_not_a_crash(
    app: Litestar, gql: GraphQLClient
) -> None:
    session = await sign_up(gql)
    async with db.transaction():
        await User.delete().where(User.id == uuid.UUID(session.user_id))

    response = await gql.post(CREATE_PROJECT, {"input": {"name": "Acme"}}, session.access_token)

    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_an_access_token_naming_no_session_is_401(
    gql: GraphQLClient, settings: Settings, clock: FrozenClock
) -> None:
    session = await sign_up(gql)
    codec = AccessTokenCodec(settings.secret_key, timedelta(minutes=15))
    token, _ = codec.issue(uuid.UUID(session.user_id), uuid.uuid4(), clock.now())

    assert (await gql.post(VIEWER, token=token)).status_code == 401


async def test_an_ended_session_is_counted_as_such_in_the_metrics(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    session = await sign_up(gql)
    await gql.execute(
        LOG_OUT, {"input": {"refreshToken": session.refresh_token}}, session.access_token
    )
    await gql.post(VIEWER, token=session.access_token)

    metrics = (await http.get("/metrics")).text

    assert 'traylinx_auth_failures_total{reason="session_ended"} 1.0' in metrics


# --- The console's cookie session ---------------------------------------------------------------

CONSOLE = {"X-Requested-With": "traylinx-console"}
LOG_IN_WITH_COOKIE = """
mutation LogIn($input: LogInInput!) {
  logIn(input: $input) { accessToken refreshToken user { id } userErrors { field message } }
}
"""


async def _auth_post(
    http: httpx.AsyncClient, path: str, cookie: str | None, headers: dict[str, str] = CONSOLE
) -> httpx.Response:
    """POST to a session endpoint as a browser holding `cookie` (and nothing else) would."""
    http.cookies.clear()
    if cookie is not None:
        http.cookies.set("traylinx_refresh", cookie)
    return await http.post(path, headers=headers)


async def _console_log_in(http: httpx.AsyncClient, gql: GraphQLClient) -> tuple[str, str]:
    """(access token, refresh cookie) of a console login."""
    session = await sign_up(gql)
    response = await gql.post(
        LOG_IN_WITH_COOKIE,
        {"input": {"email": session.email, "password": PASSWORD, "refreshTokenInCookie": True}},
    )
    payload = response.json()["data"]["logIn"]
    return payload["accessToken"], response.cookies["traylinx_refresh"]


async def test_a_console_login_puts_the_refresh_token_in_an_http_only_cookie(
    gql: GraphQLClient,
) -> None:
    session = await sign_up(gql)

    response = await gql.post(
        LOG_IN_WITH_COOKIE,
        {"input": {"email": session.email, "password": PASSWORD, "refreshTokenInCookie": True}},
    )

    payload = response.json()["data"]["logIn"]
    assert payload["refreshToken"] is None
    assert payload["accessToken"]
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("traylinx_refresh=tlr_")
    for attribute in ("HttpOnly", "Path=/auth", "SameSite=Strict", "Max-Age=2592000"):
        assert attribute.lower() in cookie.lower(), attribute
    assert "secure" not in cookie.lower()  # plain http on loopback


async def test_a_login_without_the_cookie_flag_sets_no_cookie(gql: GraphQLClient) -> None:
    session = await sign_up(gql)

    response = await gql.post(LOG_IN, {"input": {"email": session.email, "password": PASSWORD}})

    assert "set-cookie" not in response.headers
    assert response.json()["data"]["logIn"]["refreshToken"].startswith("tlr_")


async def test_the_cookie_refreshes_the_session_and_rotates(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    _, cookie = await _console_log_in(http, gql)

    response = await _auth_post(http, "/auth/refresh", cookie)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"accessToken", "accessTokenExpiresAt", "user"}
    assert body["accessTokenExpiresAt"].endswith("Z")
    rotated = response.cookies["traylinx_refresh"]
    assert rotated != cookie
    assert response.headers["cache-control"] == "no-store"
    assert (await gql.post(VIEWER, token=body["accessToken"])).status_code == 200


async def test_a_used_cookie_ends_the_session(http: httpx.AsyncClient, gql: GraphQLClient) -> None:
    access_token, cookie = await _console_log_in(http, gql)
    await _auth_post(http, "/auth/refresh", cookie)

    again = await _auth_post(http, "/auth/refresh", cookie)

    assert again.status_code == 401
    assert again.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "max-age=0" in again.headers["set-cookie"].lower()
    assert (await gql.post(VIEWER, token=access_token)).status_code == 401


@pytest.mark.parametrize("cookie", [None, "", "tlr_unknown", "not a token"])
async def test_refresh_without_a_live_cookie_is_401(
    http: httpx.AsyncClient, cookie: str | None
) -> None:
    response = await _auth_post(http, "/auth/refresh", cookie)

    assert response.status_code == 401


@pytest.mark.parametrize("path", ["/auth/refresh", "/auth/logout"])
async def test_session_endpoints_refuse_requests_without_the_console_header(
    http: httpx.AsyncClient, gql: GraphQLClient, path: str
) -> None:
    _, cookie = await _console_log_in(http, gql)

    response = await _auth_post(http, path, cookie, headers={})

    assert response.status_code == 403
    # Nothing happened: the cookie still refreshes.
    refreshed = await _auth_post(http, "/auth/refresh", cookie)
    assert refreshed.status_code == 200


async def test_console_logout_ends_the_session_and_clears_the_cookie(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    access_token, cookie = await _console_log_in(http, gql)

    response = await _auth_post(http, "/auth/logout", cookie)

    assert response.status_code == 204
    assert "max-age=0" in response.headers["set-cookie"].lower()
    assert (await gql.post(VIEWER, token=access_token)).status_code == 401
    refreshed = await _auth_post(http, "/auth/refresh", cookie)
    assert refreshed.status_code == 401


async def test_console_logout_without_a_session_is_still_204(http: httpx.AsyncClient) -> None:
    response = await _auth_post(http, "/auth/logout", None)

    assert response.status_code == 204
