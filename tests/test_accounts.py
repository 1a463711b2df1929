"""Accounts: sign-up, login, refresh rotation and reuse detection, logout."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.clock import FrozenClock
from tests.graphql_client import GraphQLClient
from tests.helpers import LOG_IN, LOG_OUT, PASSWORD, REFRESH, SIGN_UP, VIEWER, new_email, sign_up


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
