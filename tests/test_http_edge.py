"""The HTTP edge: the bearer guard, limits, malformed requests, GraphiQL and health."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from graphql import get_introspection_query
from piccolo.engine.postgres import PostgresEngine

from app import db
from app.settings import Environment, Settings
from tests.conftest import serving
from tests.graphql_client import GraphQLClient
from tests.helpers import LOG_IN, PASSWORD, VIEWER, create_project, sign_up

UNAUTHENTICATED_BODY = {
    "errors": [
        {
            "message": "Invalid, expired or revoked credentials.",
            "extensions": {"code": "UNAUTHENTICATED"},
        }
    ]
}


def _unsigned(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _claims(user_id: str = "00000000-0000-0000-0000-000000000001") -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    return {"sub": user_id, "iss": "traylinx-keys", "typ": "access", "iat": now, "exp": now + 600}


async def test_anonymous_callers_reach_typename(gql: GraphQLClient) -> None:
    assert await gql.execute("{ __typename }") == {"__typename": "Query"}


async def test_anonymous_callers_reach_introspection(gql: GraphQLClient) -> None:
    data = await gql.execute("{ __schema { queryType { name } } }")

    assert data["__schema"]["queryType"]["name"] == "Query"


async def test_anonymous_callers_get_unauthenticated_on_other_fields(gql: GraphQLClient) -> None:
    errors = await gql.errors("{ projects { totalCount } }")

    assert errors[0]["extensions"] == {"code": "UNAUTHENTICATED"}


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer",
        "Bearer    ",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-token",
        "Bearer " + "A" * 10_000,
        "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.bad-signature",
    ],
)
async def test_a_malformed_bearer_gets_401_before_any_resolver(
    http: httpx.AsyncClient, authorization: str
) -> None:
    response = await http.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Authorization": authorization}
    )

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json() == UNAUTHENTICATED_BODY


async def test_a_jwt_signed_with_another_key_gets_401(http: httpx.AsyncClient) -> None:
    forged = jwt.encode(_claims(), "another-key-that-is-long-enough-for-hs256", algorithm="HS256")

    response = await http.post(
        "/graphql", json={"query": VIEWER}, headers={"Authorization": f"Bearer {forged}"}
    )

    assert response.status_code == 401


async def test_a_jwt_with_alg_none_gets_401(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/graphql",
        json={"query": VIEWER},
        headers={"Authorization": f"Bearer {_unsigned(_claims())}"},
    )

    assert response.status_code == 401


async def test_an_expired_jwt_gets_401(gql: GraphQLClient, clock: Any) -> None:
    session = await sign_up(gql)
    clock.advance(timedelta(hours=1))

    response = await gql.post(VIEWER, token=session.access_token)

    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED_BODY


async def test_rejected_tokens_never_reach_the_log(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsZWFrIn0.c2VjcmV0LXNpZ25hdHVyZQ"
    caplog.set_level(logging.DEBUG)

    await http.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Authorization": f"Bearer {token}"}
    )

    assert token not in caplog.text
    assert "c2VjcmV0LXNpZ25hdHVyZQ" not in caplog.text


async def test_passwords_and_tokens_never_reach_the_log(
    gql: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    session = await sign_up(gql)
    login = await gql.execute(LOG_IN, {"input": {"email": session.email, "password": PASSWORD}})
    await gql.execute(LOG_IN, {"input": {"email": session.email, "password": PASSWORD + "!"}})

    for secret in (
        PASSWORD,
        session.access_token,
        session.refresh_token,
        login["logIn"]["refreshToken"],
    ):
        assert secret not in caplog.text


async def test_non_json_body_is_400(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/graphql", content=b"query { __typename }", headers={"content-type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_malformed_json_is_400(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/graphql",
        content=b'{"query": "{ __typename }"',
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 400


async def test_a_batch_is_refused(http: httpx.AsyncClient) -> None:
    response = await http.post("/graphql", json=[{"query": "{ __typename }"}] * 2)

    assert response.status_code == 400


async def test_a_body_over_one_mebibyte_is_413(http: httpx.AsyncClient) -> None:
    padding = " " * (1024 * 1024)
    response = await http.post(
        "/graphql",
        content=json.dumps({"query": "{ __typename }" + padding}).encode(),
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_a_query_deeper_than_the_limit_is_refused(settings: Settings) -> None:
    # The schema has no cycles today, so its deepest path is short; a lower limit shows the
    # limiter at work on a real query.
    shallow = replace(settings, graphql=replace(settings.graphql, max_depth=4))
    query = "{ projects { edges { node { members { edges { node { role } } } } } } }"

    async with serving(shallow) as http:
        response = await http.post("/graphql", json={"query": query})

    assert "exceeds maximum operation depth of 4" in response.json()["errors"][0]["message"]


async def test_a_hundred_aliases_are_refused(gql: GraphQLClient) -> None:
    aliases = " ".join(f"a{i}: __typename" for i in range(100))

    errors = await gql.errors(f"{{ {aliases} }}")

    assert "aliases" in errors[0]["message"].lower()


async def test_a_mutation_over_get_is_refused(http: httpx.AsyncClient) -> None:
    response = await http.get(
        "/graphql",
        params={"query": "mutation { __typename }"},
        headers={"accept": "application/json"},
    )

    assert response.status_code in {400, 405}


async def test_graphiql_is_served_in_development(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", headers={"accept": "text/html"})

    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_healthz_answers_ok(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")

    assert response.json() == {"status": "ok"}


async def test_readyz_answers_ok_when_the_database_does(http: httpx.AsyncClient) -> None:
    response = await http.get("/readyz")

    assert response.status_code == 200


async def test_a_small_connection_pool_serves(settings: Settings, engine_name: str) -> None:
    if engine_name != "postgres":
        pytest.skip("the pool is PostgreSQL's")
    # Smaller than asyncpg's default minimum of 10 connections, which it must not ask for.
    small = replace(settings, database=replace(settings.database, pool_max_size=2))
    async with serving(small) as http:
        owner = await sign_up(GraphQLClient(http))
        response = await http.get("/readyz")
        viewer = await GraphQLClient(http).execute(VIEWER, token=owner.access_token)

    assert response.status_code == 200
    assert viewer["viewer"]["email"] == owner.email


@pytest.mark.filterwarnings("ignore:.*Unable to connect to database")
async def test_readyz_is_503_when_the_database_is_unreachable(http: httpx.AsyncClient) -> None:
    healthy = db.engine()
    # A server nobody listens on: the real failure, not a patched ping.
    db.activate(PostgresEngine(config={"host": "127.0.0.1", "port": 9, "user": "postgres"}))
    try:
        response = await http.get("/readyz")
    finally:
        db.activate(healthy)

    assert response.status_code == 503
    assert response.json() == {"status": "database unavailable"}


async def test_production_hides_graphiql_and_introspection(settings: Settings) -> None:
    production = replace(settings, env=Environment.PRODUCTION)

    async with serving(production) as http:
        page = await http.get("/graphql", headers={"accept": "text/html"})
        introspection = await http.post(
            "/graphql", json={"query": "{ __schema { queryType { name } } }"}
        )

    assert "graphiql" not in page.text.lower()
    assert introspection.json()["errors"]


async def test_a_client_hanging_up_mid_body_is_not_logged_as_an_error(
    app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sent: list[dict[str, Any]] = []
    messages = iter(
        [
            {"type": "http.request", "body": b'{"query": "{ __type', "more_body": True},
            {"type": "http.disconnect"},
        ]
    )

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
        "state": {},
    }

    caplog.set_level(logging.INFO)

    await app(scope, receive, send)

    assert "client disconnected before sending its whole request" in caplog.text
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_an_unknown_path_is_404_in_the_graphql_error_shape(http: httpx.AsyncClient) -> None:
    response = await http.get("/nowhere")

    assert response.status_code == 404
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_a_naive_datetime_literal_gets_its_message_not_a_masked_error(
    gql: GraphQLClient,
) -> None:
    session = await sign_up(gql)
    query = (
        'mutation { createApiKey(input: {projectId: "00000000-0000-0000-0000-000000000000", '
        'note: "x", expiresAt: "2030-01-01T00:00:00"}) { secret } }'
    )

    errors = await gql.errors(query, token=session.access_token)

    assert "UTC offset" in errors[0]["message"]
    assert errors[0].get("extensions", {}).get("code") != "INTERNAL_SERVER_ERROR"


@pytest.mark.parametrize("value", ["9999-12-31T00:00:00Z", "1900-01-01T00:00:00Z"])
async def test_datetimes_outside_the_supported_years_are_refused(
    gql: GraphQLClient, value: str
) -> None:
    session = await sign_up(gql)
    query = (
        "mutation($e: DateTime) { createApiKey(input: {projectId: "
        '"00000000-0000-0000-0000-000000000000", note: "x", expiresAt: $e}) { secret } }'
    )

    errors = await gql.errors(query, {"e": value}, session.access_token)

    assert "between the years" in errors[0]["message"]


@pytest.mark.parametrize("email", ["nul\u0000@example.com", "half\ud800@example.com"])
async def test_unstorable_text_is_a_400_not_a_database_error(
    http: httpx.AsyncClient, email: str
) -> None:
    body = json.dumps(
        {
            "query": LOG_IN,
            "variables": {"input": {"email": email, "password": PASSWORD}},
        }
    )

    response = await http.post(
        "/graphql", content=body.encode(), headers={"content-type": "application/json"}
    )

    assert response.status_code == 400
    assert "NUL" in response.json()["errors"][0]["message"]


async def test_a_jwt_issued_in_the_future_gets_401(
    gql: GraphQLClient, settings: Settings, clock: Any
) -> None:
    from app.security.jwt import AccessTokenCodec

    session = await sign_up(gql)
    codec = AccessTokenCodec(settings.secret_key, timedelta(minutes=15))
    token, _ = codec.issue(
        uuid.UUID(session.user_id), uuid.uuid4(), clock.now() + timedelta(hours=2)
    )

    response = await gql.post(VIEWER, token=token)

    assert response.status_code == 401


KEYS_AND_ADDRESSES = """
query Wide($projects: Int, $keys: Int, $ips: Int) {
  projects(first: $projects) {
    edges { node { apiKeys(first: $keys) { edges { node { ...Addresses } } } } }
  }
}
fragment Addresses on ApiKey { clientIps(first: $ips) { edges { node { ip } } } }
"""


@pytest.mark.parametrize(
    ("variables", "objects"),
    [
        # 100 projects, 100 keys each, 100 addresses each.
        ({"projects": 100, "keys": 100, "ips": 100}, 1_010_100),
        # A page of 0 still costs its query: at least one per call.
        ({"projects": 100, "keys": 100, "ips": 0}, 20_100),
        # GraphQL's Int takes 100.0 as 100, and so does the count.
        ({"projects": 100.0, "keys": 1e2, "ips": 1}, 20_100),
        # Pages left out count as the default page of 20.
        ({"keys": 30}, 20 + 600 + 12_000),
    ],
)
async def test_an_operation_that_could_fetch_too_much_is_refused_before_it_runs(
    gql: GraphQLClient, variables: dict[str, float], objects: int
) -> None:
    session = await sign_up(gql)

    response = await gql.post(KEYS_AND_ADDRESSES, variables, session.access_token)

    body = response.json()
    assert body.get("data") is None
    assert body["errors"][0]["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "objects": objects,
        "limit": 10_000,
    }
    assert f"up to {objects:,} objects" in body["errors"][0]["message"]


@pytest.mark.parametrize(
    "variables",
    [{}, {"projects": 20, "keys": 100, "ips": 3}, {"projects": 100, "keys": 9, "ips": 10}],
)
async def test_operations_within_the_object_limit_run(
    gql: GraphQLClient, variables: dict[str, int]
) -> None:
    session = await sign_up(gql)

    data = await gql.execute(KEYS_AND_ADDRESSES, variables, session.access_token)

    assert data == {"projects": {"edges": []}}


async def test_fragments_that_double_at_every_level_are_refused_at_once(
    gql: GraphQLClient,
) -> None:
    # 60 levels, each spreading the next twice: 2^60 fields from 3 KB.
    levels = 60
    chain = " ".join(
        f"fragment F{i} on __Type {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    query = (
        f"{{ __schema {{ types {{ ...F0 }} }} }} {chain} fragment F{levels} on __Type {{ name }}"
    )
    session = await sign_up(gql)

    response = await gql.post(query, token=session.access_token)

    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["fields"] > 2**60
    assert "more than a trillion fields" in error["message"]


async def test_graphiqls_introspection_query_is_within_the_limits(gql: GraphQLClient) -> None:
    query = get_introspection_query(descriptions=True, input_value_deprecation=True)

    data = await gql.execute(query)

    assert len(data["__schema"]["types"]) > 20


async def test_browsers_of_allowed_origins_may_call_and_read_the_request_id(
    settings: Settings,
) -> None:
    allowed = replace(settings, cors_origins=("https://app.example",))
    async with serving(allowed) as http:
        preflight = await http.options(
            "/graphql",
            headers={
                "origin": "https://app.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, content-type",
            },
        )
        answered = await http.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"origin": "https://app.example"}
        )
        foreign = await http.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"origin": "https://evil.example"}
        )

    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert answered.headers["access-control-allow-origin"] == "https://app.example"
    assert "x-request-id" in answered.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in foreign.headers


USAGE_FROM = """
query($id: ID!) {{
  project(id: $id) {{
    usage(from: {start}, to: "2026-11-02T00:00:00Z", granularity: HOUR) {{ totals {{ requests }} }}
  }}
}}
"""


@pytest.mark.parametrize("blank", ['""', '" "'])
async def test_a_blank_datetime_literal_is_refused_like_a_blank_variable(
    gql: GraphQLClient, blank: str
) -> None:
    session = await sign_up(gql)
    project = await create_project(gql, session)
    as_variable = USAGE_FROM.replace("query($id: ID!)", "query($id: ID!, $start: DateTime!)")

    literal = await gql.errors(
        USAGE_FROM.format(start=blank), {"id": project["id"]}, session.access_token
    )
    variable = await gql.errors(
        as_variable.format(start="$start"),
        {"id": project["id"], "start": json.loads(blank)},
        session.access_token,
    )

    for errors in (literal, variable):
        assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT", errors
        assert "null" in errors[0]["message"] or "non-null" in errors[0]["message"]


@pytest.mark.parametrize("body", [b"null", b'"x"', b"1", b"true", b"3.5"])
async def test_a_json_body_that_is_not_an_object_is_400(
    http: httpx.AsyncClient, body: bytes
) -> None:
    response = await http.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "JSON object" in error["message"]


@pytest.mark.parametrize("depth", [65, 1_000, 100_000])
async def test_deeply_nested_variables_are_400(http: httpx.AsyncClient, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    body = f'{{"query": "{{ __typename }}", "variables": {{"x": {nested}}}}}'

    response = await http.post(
        "/graphql", content=body.encode(), headers={"content-type": "application/json"}
    )

    assert response.status_code == 400
    assert "nests deeper" in response.json()["errors"][0]["message"]


async def test_brackets_inside_strings_do_not_count_as_nesting(gql: GraphQLClient) -> None:
    session = await sign_up(gql)
    text = "[" * 5_000 + '\\"{' * 100

    data = await gql.execute(
        "query($id: ID!) { project(id: $id) { id } }", {"id": text}, session.access_token
    )

    assert data == {"project": None}


async def test_a_number_too_long_in_the_variables_is_400(http: httpx.AsyncClient) -> None:
    body = '{"query": "query($n: Int) { __typename }", "variables": {"n": ' + "9" * 5_000 + "}}"

    response = await http.post(
        "/graphql", content=body.encode(), headers={"content-type": "application/json"}
    )

    assert response.status_code == 400
    assert "digits" in response.json()["errors"][0]["message"]
    assert "sys.set_int_max_str_digits" not in response.text


@pytest.mark.parametrize("first", ["9" * 5_000, "99999999999", "-2147483649"])
async def test_an_out_of_range_int_literal_is_invalid_with_its_field(
    gql: GraphQLClient, first: str
) -> None:
    session = await sign_up(gql)

    errors = await gql.errors(
        f"{{ projects(first: {first}) {{ totalCount }} }}", token=session.access_token
    )

    assert errors[0]["extensions"] == {"code": "INVALID", "field": ["first"]}
    assert "sys." not in errors[0]["message"]
    assert len(errors[0]["message"]) < 200


async def test_a_page_size_out_of_range_names_its_argument(gql: GraphQLClient) -> None:
    session = await sign_up(gql)

    errors = await gql.errors("{ projects(first: 101) { totalCount } }", token=session.access_token)

    assert errors[0]["extensions"] == {"code": "INVALID", "field": ["first"]}


async def test_a_crash_in_any_phase_is_masked(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.graphql import cost

    def crash(*_: Any) -> None:
        raise ValueError("internal detail: /etc/secret")

    monkeypatch.setattr(cost, "_refuse_out_of_range_ints", crash)

    errors = await gql.errors("{ __typename }")

    assert errors == [
        {"message": "Unexpected error.", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}
    ]
