"""The providers' side of the proxy: where each provider lives, what headers cross in each
direction, and upstream faults as our error kinds.

Requests go through our own small HTTP/1.1 client (`client.py`): measured as a pass-through on
this kind of machine, httpx's AsyncClient fell from ~600 to ~420 requests/s going from 1 to 32
connections, aiohttp's client served ~3,700 but spent ~30% of a proxied request's time; see the
README's performance section.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode

from app.llm_keys.catalog import Provider
from app.proxy.client import BaseUrl, HttpClient, UpstreamError, UpstreamResponse, UpstreamTimeout
from app.proxy.dialects import ErrorKind, ProxyError
from app.security.tokens import PROJECT_KEY_PREFIX
from app.settings import ProxyConfig

# Headers a client may pass to a provider; everything else (its credentials first of all) stays.
FORWARDED_REQUEST_HEADERS = ("content-type", "accept", "openai-beta", "idempotency-key")
# Upstream response headers a client may see: the content's type, rate limits, the provider's
# request id (renamed, ours is x-request-id). Everything else - organisation ids, cookies,
# transport and security policy headers - stays here.
RESPONSE_HEADERS = frozenset({"content-type", "retry-after", "openai-processing-ms"})
RESPONSE_HEADER_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-")
UPSTREAM_REQUEST_ID_HEADERS = ("x-request-id", "request-id")
# Query parameters the providers define for the endpoints forwarded (Anthropic's SDK marks beta
# requests with ?beta=true; OpenAI's POST endpoints take none). Anything else a client puts in
# the URL - a project key, above all - never leaves this service.
FORWARDED_QUERY_PARAMETERS = {
    Provider.OPENAI: frozenset[str](),
    Provider.ANTHROPIC: frozenset({"beta"}),
}


class Upstream:
    def __init__(self, config: ProxyConfig, ssl_context: ssl.SSLContext | None = None) -> None:
        self._bases = {
            Provider.OPENAI: BaseUrl.parse(config.openai_base_url),
            Provider.ANTHROPIC: BaseUrl.parse(config.anthropic_base_url),
        }
        self._client = HttpClient(
            max_connections=config.max_connections,
            connect_timeout=config.connect_timeout,
            read_timeout=config.read_timeout,
            ssl_context=ssl_context,
        )

    async def stop(self) -> None:
        await self._client.close()

    def target(self, provider: Provider, path: str, query: str) -> str:
        """The request target at the provider for one of our /v1 paths."""
        base = self._bases[provider].path
        # OpenAI's base URL ends in /v1, like its SDK's; `path` does too.
        target = base + (path.removeprefix("/v1") if provider is Provider.OPENAI else path)
        kept = forwarded_query(provider, query)
        return f"{target}?{kept}" if kept else target

    async def post(
        self, provider: Provider, target: str, headers: Mapping[str, str], body: bytes
    ) -> UpstreamResponse:
        try:
            return await self._client.post(
                self._bases[provider].origin, target, headers.items(), body
            )
        except UpstreamError as error:
            raise as_proxy_error(error, provider) from None


def forwarded_query(provider: Provider, query: str) -> str:
    """The client's query string, keeping only what the provider's API defines."""
    if not query:
        return ""
    allowed = FORWARDED_QUERY_PARAMETERS[provider]
    kept = [
        (name, value)
        for name, value in parse_qsl(query, keep_blank_values=True)
        if name in allowed and PROJECT_KEY_PREFIX not in value
    ]
    return urlencode(kept)


def forwarded_headers(client_headers: Mapping[str, str]) -> dict[str, str]:
    return {
        name: value
        for name in FORWARDED_REQUEST_HEADERS
        if (value := client_headers.get(name)) is not None
    }


def response_headers(
    upstream_headers: Iterable[tuple[str, str]], *, rate_limits: bool = True
) -> dict[str, str]:
    """`upstream_headers`: lower-cased names, as the client hands them over. `rate_limits`
    False leaves out the provider's rate-limit headers (the key's own replace them)."""
    passed: dict[str, str] = {}
    for name, value in upstream_headers:
        if name in RESPONSE_HEADERS or (rate_limits and name.startswith(RESPONSE_HEADER_PREFIXES)):
            passed[name] = value
        elif name in UPSTREAM_REQUEST_ID_HEADERS:
            passed["x-upstream-request-id"] = value
    return passed


def as_proxy_error(error: UpstreamError, provider: Provider) -> ProxyError:
    """A fault of the provider's connection, as the caller will be told (504 or 502)."""
    return _timeout(provider) if isinstance(error, UpstreamTimeout) else _unreachable(provider)


def _timeout(provider: Provider) -> ProxyError:
    return ProxyError(
        ErrorKind.UPSTREAM_TIMEOUT, f"The {provider.name.lower()} API did not answer in time."
    )


def _unreachable(provider: Provider) -> ProxyError:
    return ProxyError(
        ErrorKind.UPSTREAM_UNREACHABLE,
        f"The {provider.name.lower()} API could not be reached or dropped the connection.",
    )
