"""Operations: /metrics, request ids, structured logs with secrets redacted."""

from __future__ import annotations

import json
import logging
import os
import re

import httpx
import pytest

from app.observability import JsonFormatter, RedactingFilter, redact
from tests.graphql_client import GraphQLClient
from tests.helpers import create_key, create_project, sign_up


async def test_metrics_count_requests_by_route_template(http: httpx.AsyncClient) -> None:
    await http.get("/healthz")
    await http.post("/graphql", json={"query": "{ __typename }"})

    text = (await http.get("/metrics")).text

    assert 'traylinx_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    assert 'route="/graphql"' in text
    assert "traylinx_http_request_duration_seconds_bucket" in text
    assert "traylinx_usage_queue_depth" in text
    assert "traylinx_usage_dropped_total" in text


async def test_auth_failures_are_counted_by_reason_without_identities(
    gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    owner = await sign_up(gql)
    project = await create_project(gql, owner)
    key = await create_key(gql, owner, project["id"])
    await gql.post("{ __typename }", token="tlx_garbage")
    await gql.post("{ __typename }", token=key["secret"][:-1] + "0")

    text = (await http.get("/metrics")).text

    assert 'traylinx_auth_failures_total{reason="malformed"}' in text
    assert key["id"] not in text
    assert key["secret"] not in text
    assert "203.0.113.7" not in text


async def test_metric_labels_stay_bounded_whatever_the_path(http: httpx.AsyncClient) -> None:
    for index in range(20):
        await http.get(f"/no-such-page-{index}")

    text = (await http.get("/metrics")).text

    assert "no-such-page" not in text
    assert 'traylinx_http_requests_total{method="GET",route="unmatched",status="404"} 20.0' in text


async def test_requests_no_route_answers_carry_a_request_id_too(http: httpx.AsyncClient) -> None:
    missing = await http.get("/no-such-page", headers={"x-request-id": "trace-404"})
    wrong_method = await http.put("/graphql")

    assert (missing.status_code, missing.headers["x-request-id"]) == (404, "trace-404")
    assert wrong_method.status_code == 405
    assert re.fullmatch(r"[0-9a-f]{16}", wrong_method.headers["x-request-id"])


async def test_every_response_carries_a_request_id(http: httpx.AsyncClient) -> None:
    generated = await http.get("/healthz")
    echoed = await http.get("/healthz", headers={"x-request-id": "trace-123"})
    refused = await http.get("/healthz", headers={"x-request-id": "bad id\nwith newline"})

    assert re.fullmatch(r"[0-9a-f]{16}", generated.headers["x-request-id"])
    assert echoed.headers["x-request-id"] == "trace-123"
    assert refused.headers["x-request-id"] != "bad id\nwith newline"


@pytest.mark.parametrize(
    "secret",
    [
        "tlx_abcdefghijkl_ABCDEFGHIJKLMNOPQRSTUVWXYZ012345abcdef",
        "tlr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
        "sk-proj-abcdefghijklmnop",
    ],
)
def test_log_lines_never_show_a_credential(secret: str) -> None:
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "got %s here", (secret,), None)
    RedactingFilter().filter(record)

    line = JsonFormatter().format(record)

    assert secret not in line
    assert json.loads(line)["message"] == "got [REDACTED] here"


def test_json_log_lines_are_one_object_with_the_request_id() -> None:
    record = logging.LogRecord("app.test", logging.WARNING, __file__, 1, "hello", None, None)
    RedactingFilter().filter(record)

    entry = json.loads(JsonFormatter().format(record))

    assert entry["level"] == "WARNING"
    assert entry["logger"] == "app.test"
    assert entry["message"] == "hello"
    assert "request_id" in entry


def test_redact_leaves_ordinary_text_alone() -> None:
    assert redact("project 42 has 3 keys") == "project 42 has 3 keys"


def test_text_log_tracebacks_are_redacted_too() -> None:
    from app.observability import RedactingFormatter

    token = "tlr_" + "Q" * 40
    try:
        raise RuntimeError(f"refresh failed for {token}")
    except RuntimeError:
        import sys

        record = logging.LogRecord("app", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())

    line = RedactingFormatter("%(message)s").format(record)

    assert "RuntimeError" in line
    assert token not in line


def test_inputs_carrying_secrets_never_show_them() -> None:
    from app.accounts.graphql import LogInInput
    from app.llm_keys.graphql import AddLlmApiKeyInput

    shown = repr(LogInInput(email="a@b.co", password="hunter2hunter2")) + repr(
        AddLlmApiKeyInput(project_id="p", provider="OPENAI", secret_key="sk-secret-value")  # type: ignore[arg-type]
    )

    assert "hunter2" not in shown
    assert "sk-secret-value" not in shown


def test_log_lines_name_the_process_that_wrote_them() -> None:
    """With several workers, several processes write to one stream."""
    record = logging.LogRecord("app.test", logging.INFO, __file__, 1, "hello", None, None)
    RedactingFilter().filter(record)

    entry = json.loads(JsonFormatter().format(record))

    assert entry["pid"] == os.getpid()
