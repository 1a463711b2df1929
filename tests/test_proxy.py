"""The proxy, driven by the official OpenAI and Anthropic SDKs against a fake provider."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from app.usage.tables import UsageEvent
from tests.conftest import Proxy, ProxyFactory, live_http
from tests.fake_provider import INPUT_TOKENS, OUTPUT_TOKENS, STREAM_TEXT, FakeProvider
from tests.graphql_client import GraphQLClient, Session
from tests.helpers import (
    DELETE_KEY,
    DELETE_LLM_KEY,
    UPDATE_LLM_KEY,
    add_llm_key,
    create_key,
    create_project,
    sign_up,
)
from tests.processes import server_process

OPENAI_SECRET = "sk-openai-upstream-secret-0000000000ZZ"
ANTHROPIC_SECRET = "sk-ant-upstream-secret-1111111111YY"
MESSAGES = [{"role": "user", "content": "Hi"}]


class Tenant:
    """A project with both provider keys and an API key, as an application team sets it up."""

    def __init__(self, owner: Session, project: dict[str, Any], key: dict[str, Any]) -> None:
        self.owner = owner
        self.project = project
        self.key = key
        self.llm_keys: dict[str, dict[str, Any]] = {}


async def _tenant(proxy: Proxy) -> Tenant:
    owner = await sign_up(proxy.gql)
    project = await create_project(proxy.gql, owner)
    key = await create_key(proxy.gql, owner, project["id"])
    tenant = Tenant(owner, project, key)
    tenant.llm_keys["OPENAI"] = await add_llm_key(
        proxy.gql, owner, project["id"], "OPENAI", OPENAI_SECRET, customModels=["ft:acme-1"]
    )
    tenant.llm_keys["ANTHROPIC"] = await add_llm_key(
        proxy.gql, owner, project["id"], "ANTHROPIC", ANTHROPIC_SECRET
    )
    return tenant


def _openai(proxy: Proxy, api_key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{proxy.url}/v1", api_key=api_key, max_retries=0)


def _anthropic(proxy: Proxy, api_key: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=proxy.url, api_key=api_key, max_retries=0)


async def _usage(proxy: Proxy) -> list[dict[str, Any]]:
    await proxy.services.usage_recorder.flush()
    rows: list[dict[str, Any]] = await UsageEvent.select().order_by(UsageEvent.created_at)
    return rows


# --- OpenAI format ---------------------------------------------------------------------------


async def test_chat_completion_goes_through_with_the_provider_secret(
    proxy: Proxy, fake_provider: FakeProvider
) -> None:
    tenant = await _tenant(proxy)

    completion = await _openai(proxy, tenant.key["secret"]).chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,  # type: ignore[arg-type]
    )

    assert completion.choices[0].message.content == "".join(STREAM_TEXT)
    received = fake_provider.received[-1]
    assert received.path == "/v1/chat/completions"
    assert received.headers["Authorization"] == f"Bearer {OPENAI_SECRET}"
    assert tenant.key["secret"] not in str(received.headers)
    assert b'"model":"gpt-4o-mini"' in received.body.replace(b" ", b"")


async def test_the_request_body_reaches_the_provider_byte_for_byte(
    proxy: Proxy, fake_provider: FakeProvider
) -> None:
    tenant = await _tenant(proxy)
    body = b'{"messages":[{"role":"user","content":"h\\u00e9"}],  "model" : "gpt-4o", "x":1.50}'

    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{proxy.url}/v1/chat/completions",
            content=body,
            headers={
                "Authorization": f"Bearer {tenant.key['secret']}",
                "content-type": "application/json",
                "connection": "keep-alive",
                "x-forwarded-for": "10.9.9.9",
                "cookie": "session=1",
            },
        )

    assert response.status_code == 200
    received = fake_provider.received[-1]
    assert received.body == body
    forwarded = {name.lower() for name in received.headers}
    assert not forwarded & {"x-forwarded-for", "cookie", "x-api-key"}


async def test_streamed_chat_passes_every_chunk_and_counts_tokens(proxy: Proxy) -> None:
    tenant = await _tenant(proxy)

    stream = await _openai(proxy, tenant.key["secret"]).chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    texts = [chunk.choices[0].delta.content async for chunk in stream if chunk.choices]

    assert texts == STREAM_TEXT
    usage = (await _usage(proxy))[-1]
    assert (usage["input_tokens"], usage["output_tokens"]) == (INPUT_TOKENS, OUTPUT_TOKENS)
    assert (usage["provider"], usage["model"], usage["status"]) == ("openai", "gpt-4o", 200)


async def test_streamed_chunks_arrive_before_the_stream_ends(
    proxy: Proxy, fake_provider: FakeProvider
) -> None:
    tenant = await _tenant(proxy)
    fake_provider.faults.chunk_interval_s = 0.3

    stream = await _openai(proxy, tenant.key["secret"]).chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,
        stream=True,  # type: ignore[arg-type]
    )
    arrivals = []
    async for _chunk in stream:
        arrivals.append(time.monotonic())

    # Unbuffered: chunks come spread over the stream's life, not all at its end.
    # (0.6 s apart as sent; a busy machine may hold the first one back a little.)
    assert arrivals[-1] - arrivals[0] >= 0.3


async def test_responses_api_goes_through(proxy: Proxy) -> None:
    tenant = await _tenant(proxy)

    response = await _openai(proxy, tenant.key["secret"]).responses.create(
        model="gpt-4.1", input="Hi"
    )

    assert response.output_text == "".join(STREAM_TEXT)
    usage = (await _usage(proxy))[-1]
    assert (usage["endpoint"], usage["input_tokens"]) == ("/v1/responses", INPUT_TOKENS)


async def test_embeddings_go_through(proxy: Proxy) -> None:
    tenant = await _tenant(proxy)

    result = await _openai(proxy, tenant.key["secret"]).embeddings.create(
        model="text-embedding-3-small", input=["a", "b"]
    )

    assert [item.embedding for item in result.data] == [[0.1, 0.2, 0.3]] * 2
    assert (await _usage(proxy))[-1]["input_tokens"] == INPUT_TOKENS


async def test_models_lists_the_projects_effective_models(proxy: Proxy) -> None:
    tenant = await _tenant(proxy)

    page = await _openai(proxy, tenant.key["secret"]).models.list()
    ids = [model.id async for model in page]

    assert "gpt-4o" in ids
    assert "ft:acme-1" in ids
    assert "claude-sonnet-4-6" in ids
    owners = {model.id: model.owned_by for model in page.data}
    assert owners["claude-sonnet-4-6"] == "anthropic"


async def test_a_custom_model_routes_to_its_provider(
    proxy: Proxy, fake_provider: FakeProvider
) -> None:
    tenant = await _tenant(proxy)

    await _openai(proxy, tenant.key["secret"]).chat.completions.create(
        model="ft:acme-1",
        messages=MESSAGES,  # type: ignore[arg-type]
    )

    assert fake_provider.received[-1].headers["Authorization"] == f"Bearer {OPENAI_SECRET}"


async def test_an_unknown_model_is_404_model_not_found(proxy: Proxy) -> None:
    tenant = await _tenant(proxy)

    with pytest.raises(openai.NotFoundError) as error:
        await _openai(proxy, tenant.key["secret"]).chat.completions.create(
            model="gpt-nonexistent",
            messages=MESSAGES,  # type: ignore[arg-type]
        )

    assert error.value.code == "model_not_found"
    assert "gpt-nonexistent" in error.value.message


async def test_an_anthropic_model_on_the_openai_endpoint_is_a_clear_400(proxy: Proxy) -> None:
    tenant = await _tenant(proxy)

    with pytest.raises(openai.BadRequestError) as error:
        await _openai(proxy, tenant.key["secret"]).chat.completions.create(
            model="claude-sonnet-4-6",
            messages=MESSAGES,  # type: ignore[arg-type]
        )

    assert "/v1/messages" in error.value.message


# --- Anthropic format ------------------------------------------------------------------------


async def test_messages_go_through_with_x_api_key(
    proxy: Proxy, fake_provider: FakeProvider
) -> None:
    tenant = await _tenant(proxy)

    message = await _anthropic(proxy, tenant.key["secret"]).messages.create(
        model="claude-sonnet-4-6",
        max_tokens=64,
        messages=MESSAGES,  # type: ignore[arg-type]
    )

    assert message.content[0].text == "".join(STREAM_TEXT)  # type: ignore[union-attr]
    received = fake_provider.received[-1]
    assert received.headers["x-api-key"] == ANTHROPIC_SECRET
    assert received.headers["anthropic-version"]
    assert "Authorization" not in received.headers
    usage = (await _usage(proxy))[-1]
    assert (usage["input_tokens"], usage["output_tokens"]) == (INPUT_TOKENS, OUTPUT_TOKENS)


async def test_streamed_messages_arrive_as_events_and_count_tokens(proxy: Proxy) -> None:
    tenant = await _tenant(proxy)

    async with _anthropic(proxy, tenant.key["secret"]).messages.stream(
        model="claude-sonnet-4-6",
        max_tokens=64,
        messages=MESSAGES,  # type: ignore[arg-type]
    ) as stream:
        texts = [text async for text in stream.text_stream]
        final = await stream.get_final_message()

    assert texts == STREAM_TEXT
    assert final.usage.output_tokens == OUTPUT_TOKENS
    usage = (await _usage(proxy))[-1]
    assert (usage["input_tokens"], usage["output_tokens"]) == (INPUT_TOKENS, OUTPUT_TOKENS)


async def test_anthropic_models_list_uses_anthropics_shape(proxy: Proxy) -> None:
    tenant = await _tenant(proxy)

    page = await _anthropic(proxy, tenant.key["secret"]).models.list()

    assert "claude-sonnet-4-6" in [model.id for model in page.data]


async def test_an_unknown_model_on_messages_is_anthropics_not_found(proxy: Proxy) -> None:
    tenant = await _tenant(proxy)

    with pytest.raises(anthropic.NotFoundError) as error:
        await _anthropic(proxy, tenant.key["secret"]).messages.create(
            model="claude-nope",
            max_tokens=8,
            messages=MESSAGES,  # type: ignore[arg-type]
        )

    assert error.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


# --- credentials -----------------------------------------------------------------------------


@pytest.mark.parametrize("credential", ["", "tlx_nope", "sk-some-openai-key", "eyJ.a.b"])
async def test_a_bad_project_key_is_401_in_openai_shape(proxy: Proxy, credential: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{proxy.url}/v1/chat/completions",
            json={"model": "gpt-4o", "messages": MESSAGES},
            headers={"Authorization": f"Bearer {credential}"} if credential else {},
        )

    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "code"}
    assert credential not in response.text or not credential


async def test_a_bad_project_key_is_401_in_anthropic_shape(proxy: Proxy) -> None:
    with pytest.raises(anthropic.AuthenticationError) as error:
        await _anthropic(proxy, "tlx_nope").messages.create(
            model="claude-sonnet-4-6",
            max_tokens=8,
            messages=MESSAGES,  # type: ignore[arg-type]
        )

    assert error.value.body == {  # type: ignore[comparison-overlap]
        "type": "error",
        "error": {"type": "authentication_error", "message": error.value.body["error"]["message"]},  # type: ignore[index]
    }


async def test_a_deleted_project_key_fails_on_the_next_call(proxy: Proxy) -> None:
    tenant = await _tenant(proxy)
    client = _openai(proxy, tenant.key["secret"])
    await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]

    await proxy.gql.execute(
        DELETE_KEY, {"input": {"id": tenant.key["id"]}}, tenant.owner.access_token
    )

    with pytest.raises(openai.AuthenticationError):
        await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]


async def test_a_deleted_provider_key_disables_its_models_on_the_next_call(proxy: Proxy) -> None:
    tenant = await _tenant(proxy)
    client = _anthropic(proxy, tenant.key["secret"])
    await client.messages.create(model="claude-sonnet-4-6", max_tokens=8, messages=MESSAGES)  # type: ignore[arg-type]

    await proxy.gql.execute(
        DELETE_LLM_KEY,
        {"input": {"id": tenant.llm_keys["ANTHROPIC"]["id"]}},
        tenant.owner.access_token,
    )

    with pytest.raises(anthropic.NotFoundError):
        await client.messages.create(model="claude-sonnet-4-6", max_tokens=8, messages=MESSAGES)  # type: ignore[arg-type]
    openai_still_works = await _openai(proxy, tenant.key["secret"]).chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,  # type: ignore[arg-type]
    )
    assert openai_still_works.choices


async def test_an_updated_provider_secret_is_used_on_the_next_call(
    proxy: Proxy, fake_provider: FakeProvider
) -> None:
    tenant = await _tenant(proxy)
    client = _openai(proxy, tenant.key["secret"])
    await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]

    await proxy.gql.execute(
        UPDATE_LLM_KEY,
        {"input": {"id": tenant.llm_keys["OPENAI"]["id"], "secretKey": "sk-rotated-secret-42"}},
        tenant.owner.access_token,
    )
    await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]

    assert fake_provider.received[-1].headers["Authorization"] == "Bearer sk-rotated-secret-42"


# --- faults ----------------------------------------------------------------------------------


async def test_an_upstream_500_passes_through_with_its_body(
    proxy: Proxy, fake_provider: FakeProvider
) -> None:
    tenant = await _tenant(proxy)
    fake_provider.faults.status = 500

    with pytest.raises(openai.InternalServerError) as error:
        await _openai(proxy, tenant.key["secret"]).chat.completions.create(
            model="gpt-4o",
            messages=MESSAGES,  # type: ignore[arg-type]
        )

    assert error.value.body == {"message": "upstream exploded", "type": "server_error"}
    assert (await _usage(proxy))[-1]["status"] == 500


async def test_an_upstream_429_passes_through(proxy: Proxy, fake_provider: FakeProvider) -> None:
    tenant = await _tenant(proxy)
    fake_provider.faults.status = 429
    fake_provider.faults.status_body = (
        b'{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}'
    )

    with pytest.raises(anthropic.RateLimitError):
        await _anthropic(proxy, tenant.key["secret"]).messages.create(
            model="claude-sonnet-4-6",
            max_tokens=8,
            messages=MESSAGES,  # type: ignore[arg-type]
        )


async def test_a_read_timeout_is_504(make_proxy: ProxyFactory, fake_provider: FakeProvider) -> None:
    async with make_proxy(read_timeout=0.3) as proxy:
        tenant = await _tenant(proxy)
        fake_provider.faults.delay_s = 1.5

        with pytest.raises(openai.APIStatusError) as error:
            await _openai(proxy, tenant.key["secret"]).chat.completions.create(
                model="gpt-4o",
                messages=MESSAGES,  # type: ignore[arg-type]
            )

    assert error.value.status_code == 504
    assert error.value.code == "upstream_timeout"


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A loopback port whose accept queue is full: connections to it hang in SYN."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(listener.getsockname())
        fillers.append(filler)
    time.sleep(0.1)
    try:
        yield listener.getsockname()[1]
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


async def test_a_connect_timeout_is_504(make_proxy: ProxyFactory, unanswered_port: int) -> None:
    async with make_proxy(
        connect_timeout=0.3, openai_base_url=f"http://127.0.0.1:{unanswered_port}/v1"
    ) as proxy:
        tenant = await _tenant(proxy)

        with pytest.raises(openai.APIStatusError) as error:
            await _openai(proxy, tenant.key["secret"]).chat.completions.create(
                model="gpt-4o",
                messages=MESSAGES,  # type: ignore[arg-type]
            )

    assert error.value.status_code == 504


async def test_a_refused_connection_is_502(make_proxy: ProxyFactory) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    async with make_proxy(anthropic_base_url=f"http://127.0.0.1:{port}") as proxy:
        tenant = await _tenant(proxy)

        with pytest.raises(anthropic.APIStatusError) as error:
            await _anthropic(proxy, tenant.key["secret"]).messages.create(
                model="claude-sonnet-4-6",
                max_tokens=8,
                messages=MESSAGES,  # type: ignore[arg-type]
            )

    assert error.value.status_code == 502
    assert error.value.body["error"]["type"] == "api_error"  # type: ignore[index]
    assert ANTHROPIC_SECRET not in str(error.value.body)


async def test_a_reset_mid_stream_ends_the_stream_and_is_recorded(
    proxy: Proxy, fake_provider: FakeProvider
) -> None:
    tenant = await _tenant(proxy)
    fake_provider.faults.reset_mid_stream = True
    stream = await _openai(proxy, tenant.key["secret"]).chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,
        stream=True,  # type: ignore[arg-type]
    )

    with pytest.raises(openai.APIError, match="broke off the stream"):
        _ = [chunk async for chunk in stream]

    assert (await _usage(proxy))[-1]["status"] == 502


async def test_a_reset_mid_stream_is_an_error_event_for_anthropic_clients(
    proxy: Proxy, fake_provider: FakeProvider
) -> None:
    tenant = await _tenant(proxy)
    fake_provider.faults.reset_mid_stream = True
    stream = await _anthropic(proxy, tenant.key["secret"]).messages.create(
        model="claude-sonnet-4-6",
        max_tokens=8,
        messages=MESSAGES,
        stream=True,  # type: ignore[arg-type]
    )

    with pytest.raises(anthropic.APIStatusError, match="broke off the stream"):
        _ = [event async for event in stream]


async def test_a_client_leaving_mid_stream_cancels_the_upstream_request(
    proxy: Proxy, fake_provider: FakeProvider
) -> None:
    tenant = await _tenant(proxy)
    fake_provider.faults.chunk_interval_s = 0.2
    fake_provider.faults.stream_chunks = 50

    async with (
        httpx.AsyncClient() as client,
        client.stream(
            "POST",
            f"{proxy.url}/v1/chat/completions",
            json={"model": "gpt-4o", "messages": MESSAGES, "stream": True},
            headers={"Authorization": f"Bearer {tenant.key['secret']}"},
        ) as response,
    ):
        async for _chunk in response.aiter_bytes():
            break

    await asyncio.wait_for(fake_provider.stream_aborted.wait(), timeout=5)


async def test_a_body_over_the_limit_is_413_in_the_providers_shape(
    make_proxy: ProxyFactory,
) -> None:
    async with make_proxy(max_body_bytes=64 * 1024) as proxy:
        tenant = await _tenant(proxy)

        with pytest.raises(openai.APIStatusError) as error:
            await _openai(proxy, tenant.key["secret"]).chat.completions.create(
                model="gpt-4o",
                messages=[{"role": "user", "content": "x" * 100_000}],
            )

    assert error.value.status_code == 413


@pytest.mark.parametrize("body", [b"not json", b"[1,2]", b'{"messages": []}', b'{"model": 5}'])
async def test_a_body_without_a_model_is_400(proxy: Proxy, body: bytes) -> None:
    tenant = await _tenant(proxy)

    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{proxy.url}/v1/chat/completions",
            content=body,
            headers={"Authorization": f"Bearer {tenant.key['secret']}"},
        )

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


async def test_usage_records_the_key_ip_and_latency(proxy: Proxy) -> None:
    tenant = await _tenant(proxy)

    await _openai(proxy, tenant.key["secret"]).chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,  # type: ignore[arg-type]
    )

    usage = (await _usage(proxy))[-1]
    assert usage["api_key_id"] == tenant.key["id"]
    assert str(usage["project_id"]) == tenant.project["id"]
    assert usage["client_ip"] == "127.0.0.1"
    assert usage["latency_ms"] >= 0


async def test_no_provider_secret_reaches_a_response_or_the_log(
    proxy: Proxy, fake_provider: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    tenant = await _tenant(proxy)
    fake_provider.faults.status = 401
    fake_provider.faults.status_body = (
        b'{"error":{"message":"bad key","type":"invalid_request_error"}}'
    )

    with pytest.raises(openai.AuthenticationError) as error:
        await _openai(proxy, tenant.key["secret"]).chat.completions.create(
            model="gpt-4o",
            messages=MESSAGES,  # type: ignore[arg-type]
        )

    assert OPENAI_SECRET not in str(error.value.response.text)
    assert OPENAI_SECRET not in str(error.value.response.headers)
    assert OPENAI_SECRET not in caplog.text
    assert tenant.key["secret"] not in caplog.text


@pytest.mark.slow
async def test_a_provider_key_deleted_through_one_process_stops_routing_in_another(
    database_url: str, tmp_path: Path, fake_provider: FakeProvider
) -> None:
    upstreams = {
        "TRAYLINX_OPENAI_BASE_URL": f"{fake_provider.base_url}/v1",
        "TRAYLINX_ANTHROPIC_BASE_URL": fake_provider.base_url,
    }
    async with (
        server_process(database_url, tmp_path / "a", upstreams) as a,
        server_process(database_url, tmp_path / "b", upstreams) as b,
    ):
        gql_a = GraphQLClient(a)
        owner = await sign_up(gql_a)
        project = await create_project(gql_a, owner)
        key = await create_key(gql_a, owner, project["id"])
        llm_key = await add_llm_key(gql_a, owner, project["id"], "OPENAI", OPENAI_SECRET)
        client_b = openai.AsyncOpenAI(
            base_url=f"{b.base_url}/v1", api_key=key["secret"], max_retries=0
        )
        before = await client_b.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]

        await gql_a.execute(DELETE_LLM_KEY, {"input": {"id": llm_key["id"]}}, owner.access_token)

        with pytest.raises(openai.NotFoundError):
            await client_b.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert before.choices


@pytest.mark.parametrize("model", ["m" * 201, "gpt-4o\n", "gpt 4o", "gpt-\u0000"])
async def test_a_model_that_is_not_a_model_id_is_400(proxy: Proxy, model: str) -> None:
    tenant = await _tenant(proxy)

    with pytest.raises(openai.BadRequestError):
        await _openai(proxy, tenant.key["secret"]).chat.completions.create(
            model=model,
            messages=MESSAGES,  # type: ignore[arg-type]
        )

    assert await _usage(proxy) == [] or (await _usage(proxy))[-1]["model"] is None


async def test_the_provider_is_asked_for_uncompressed_bodies(
    proxy: Proxy, fake_provider: FakeProvider
) -> None:
    tenant = await _tenant(proxy)

    await _openai(proxy, tenant.key["secret"]).chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,  # type: ignore[arg-type]
    )

    assert fake_provider.received[-1].headers["Accept-Encoding"] == "identity"


async def test_a_provider_redirect_is_not_followed(
    proxy: Proxy, fake_provider: FakeProvider
) -> None:
    tenant = await _tenant(proxy)
    fake_provider.faults.redirect_to = "http://127.0.0.1:9/steal"

    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{proxy.url}/v1/messages",
            json={"model": "claude-sonnet-4-6", "max_tokens": 8, "messages": MESSAGES},
            headers={"x-api-key": tenant.key["secret"]},
        )

    assert response.status_code == 302
    assert len(fake_provider.received) == 1


async def test_only_content_and_rate_limit_headers_come_back(
    proxy: Proxy, fake_provider: FakeProvider
) -> None:
    tenant = await _tenant(proxy)
    fake_provider.faults.headers = {
        "openai-organization": "org-secret-name",
        "set-cookie": "__cf=1",
        "strict-transport-security": "max-age=1",
        "x-ratelimit-remaining-requests": "99",
        "x-request-id": "req_upstream_1",
    }

    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{proxy.url}/v1/chat/completions",
            json={"model": "gpt-4o", "messages": MESSAGES},
            headers={"Authorization": f"Bearer {tenant.key['secret']}"},
        )

    assert response.headers["x-ratelimit-remaining-requests"] == "99"
    assert response.headers["x-upstream-request-id"] == "req_upstream_1"
    assert response.headers.get_list("x-request-id") != ["req_upstream_1"]
    for dropped in ("openai-organization", "set-cookie", "strict-transport-security"):
        assert dropped not in response.headers


async def test_a_cookie_set_by_the_provider_is_never_sent_upstream_again(
    make_proxy: ProxyFactory, fake_provider: FakeProvider
) -> None:
    # By name, not by address: HTTP clients keep cookies for host names only.
    named = f"http://localhost:{fake_provider.port}"
    async with make_proxy(openai_base_url=f"{named}/v1", anthropic_base_url=named) as proxy:
        tenant, other = await _tenant(proxy), await _tenant(proxy)
        fake_provider.faults.headers = {"set-cookie": "session=tenant-one; Path=/"}
        await _openai(proxy, tenant.key["secret"]).chat.completions.create(
            model="gpt-4o",
            messages=MESSAGES,  # type: ignore[arg-type]
        )
        fake_provider.faults.headers = {}

        await _openai(proxy, other.key["secret"]).chat.completions.create(
            model="gpt-4o",
            messages=MESSAGES,  # type: ignore[arg-type]
        )

    assert "cookie" not in {name.lower() for name in fake_provider.received[-1].headers}


# --- the edge of /v1 -------------------------------------------------------------------------


async def test_an_unknown_endpoint_is_404_in_the_callers_shape(proxy: Proxy) -> None:
    async with httpx.AsyncClient() as client:
        openai_style = await client.post(f"{proxy.url}/v1/completions/legacy", json={})
        anthropic_style = await client.post(
            f"{proxy.url}/v1/complete", json={}, headers={"anthropic-version": "2023-06-01"}
        )

    assert openai_style.status_code == 404
    assert openai_style.json()["error"]["type"] == "invalid_request_error"
    assert anthropic_style.status_code == 404
    assert anthropic_style.json()["error"]["type"] == "not_found_error"


async def test_a_wrong_method_is_405_naming_the_right_one(proxy: Proxy) -> None:
    async with httpx.AsyncClient() as client:
        get_completions = await client.get(f"{proxy.url}/v1/chat/completions")
        post_models = await client.post(f"{proxy.url}/v1/models", json={})

    assert get_completions.status_code == 405
    assert get_completions.headers["allow"] == "POST"
    assert "error" in get_completions.json()
    assert post_models.status_code == 405
    assert post_models.headers["allow"] == "GET"


async def test_a_chunked_body_over_the_limit_is_413_without_being_forwarded(
    make_proxy: ProxyFactory, fake_provider: FakeProvider
) -> None:
    async def chunks() -> Any:
        for _ in range(20):
            yield b"x" * 8192

    async with make_proxy(max_body_bytes=64 * 1024) as proxy:
        tenant = await _tenant(proxy)
        forwarded_before = len(fake_provider.received)
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{proxy.url}/v1/chat/completions",
                content=chunks(),
                headers={"Authorization": f"Bearer {tenant.key['secret']}"},
            )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert len(fake_provider.received) == forwarded_before


async def test_proxied_responses_carry_a_request_id_and_count_by_endpoint(proxy: Proxy) -> None:
    tenant = await _tenant(proxy)
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{proxy.url}/v1/chat/completions",
            json={"model": "gpt-4o", "messages": MESSAGES},
            headers={"Authorization": f"Bearer {tenant.key['secret']}", "x-request-id": "t-42"},
        )
        for index in range(5):
            await client.get(f"{proxy.url}/v1/models/custom-{index}")
        metrics = (await client.get(f"{proxy.url}/metrics")).text

    assert answer.status_code == 200
    assert answer.headers["x-request-id"] == "t-42"
    assert (
        'traylinx_http_requests_total{method="POST",route="/v1/chat/completions",status="200"}'
        in metrics
    )
    assert 'route="/v1/models/{model}"' in metrics
    assert "custom-0" not in metrics


async def test_a_client_leaving_mid_body_is_no_error_and_the_next_call_works(
    proxy: Proxy, caplog: pytest.LogCaptureFixture
) -> None:
    tenant = await _tenant(proxy)
    host, port = proxy.url.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + tenant.key["secret"].encode() + b"\r\n"
        b"Content-Length: 1000\r\n\r\n" + b'{"model": "gpt-4o", '
    )
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.close()
    await writer.wait_closed()

    response = await _openai(proxy, tenant.key["secret"]).chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,  # type: ignore[arg-type]
    )

    assert response.choices[0].message.content
    # A client another test left to the garbage collector may report its closed event loop
    # meanwhile; anything else logged at ERROR is this test's.
    assert not [
        r
        for r in caplog.records
        if r.levelno >= logging.ERROR and "Event loop is closed" not in r.getMessage()
    ]


# --- What never leaves the service, and what a client is told when something is wrong ---------


async def test_a_project_key_in_the_url_never_reaches_the_provider(
    proxy: Proxy, fake_provider: FakeProvider
) -> None:
    tenant = await _tenant(proxy)
    secret = tenant.key["secret"]

    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{proxy.url}/v1/chat/completions",
            params={"key": secret, "api_key": secret, "x": "1"},
            json={"model": "gpt-4o", "messages": MESSAGES},
            headers={"Authorization": f"Bearer {secret}"},
        )

    assert response.status_code == 200
    received = fake_provider.received[-1]
    assert received.query == ""
    assert secret not in repr(received)


async def test_anthropics_beta_flag_is_forwarded_and_nothing_else(
    proxy: Proxy, fake_provider: FakeProvider
) -> None:
    tenant = await _tenant(proxy)
    secret = tenant.key["secret"]

    async with httpx.AsyncClient() as client:
        await client.post(
            f"{proxy.url}/v1/messages?beta=true&key={secret}&beta={secret}",
            json={"model": "claude-sonnet-4-6", "max_tokens": 8, "messages": MESSAGES},
            headers={"x-api-key": secret, "anthropic-version": "2023-06-01"},
        )

    assert fake_provider.received[-1].query == "beta=true"


@pytest.mark.parametrize("depth", [1_000, 100_000])
async def test_a_body_nested_too_deeply_is_400_and_counted(proxy: Proxy, depth: int) -> None:
    tenant = await _tenant(proxy)
    body = b'{"model": "gpt-4o", "messages": ' + b"[" * depth + b"]" * depth + b"}"

    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{proxy.url}/v1/chat/completions",
            content=body,
            headers={
                "Authorization": f"Bearer {tenant.key['secret']}",
                "content-type": "application/json",
            },
        )

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "nests too deeply" in response.json()["error"]["message"]
    assert [(row["endpoint"], row["status"]) for row in await _usage(proxy)] == [
        ("/v1/chat/completions", 400)
    ]


async def test_the_access_log_shows_the_path_the_client_sent(
    proxy: Proxy, caplog: pytest.LogCaptureFixture
) -> None:
    tenant = await _tenant(proxy)

    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        async with live_http(proxy.app, access_log=True) as url:
            await _openai_at(url, tenant.key["secret"]).chat.completions.create(
                model="gpt-4o", messages=MESSAGES
            )

    lines = [record.getMessage() for record in caplog.records if record.name == "uvicorn.access"]
    assert any('"POST /v1/chat/completions HTTP/1.1" 200' in line for line in lines), lines


def _openai_at(base: str, api_key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=api_key, max_retries=0)
