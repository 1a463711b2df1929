"""The upstream HTTP client: one shared aiohttp session, faults mapped to our error kinds.

aiohttp's client, not httpx: measured as a pass-through on this kind of machine, httpx's
AsyncClient fell from ~600 to ~420 requests/s going from 1 to 32 connections while aiohttp's
served ~3,700 (see the README's performance section).
"""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from app.llm_keys.catalog import Provider
from app.proxy.dialects import ErrorKind, ProxyError
from app.settings import ProxyConfig

# Headers a client may pass to a provider; everything else (its credentials first of all) stays.
FORWARDED_REQUEST_HEADERS = ("content-type", "accept", "openai-beta", "idempotency-key")
# Upstream response headers a client may see: the content's type, rate limits, the provider's
# request id (renamed, ours is x-request-id). Everything else - organisation ids, cookies,
# transport and security policy headers - stays here.
RESPONSE_HEADERS = frozenset({"content-type", "retry-after", "openai-processing-ms"})
RESPONSE_HEADER_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-")
UPSTREAM_REQUEST_ID_HEADERS = ("x-request-id", "request-id")


class Upstream:
    def __init__(self, config: ProxyConfig) -> None:
        self._config = config
        self._session: aiohttp.ClientSession | None = None
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=config.connect_timeout, sock_read=config.read_timeout
        )

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self._config.max_connections, keepalive_timeout=60, enable_cleanup_closed=True
        )
        # auto_decompress off and identity asked for: bodies pass through byte for byte, and
        # token counts are read from plain JSON. No cookie jar: the session is shared by every
        # project, and a cookie a provider sets for one must never ride along for another.
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            timeout=self._timeout,
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def url(self, provider: Provider, path: str, query: str) -> str:
        if provider is Provider.ANTHROPIC:
            base = f"{self._config.anthropic_base_url}{path}"
        else:
            # OpenAI's base URL ends in /v1, like its SDK's; `path` does too.
            base = f"{self._config.openai_base_url}{path.removeprefix('/v1')}"
        return f"{base}?{query}" if query else base

    async def send(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, provider: Provider
    ) -> aiohttp.ClientResponse:
        if self._session is None:
            raise RuntimeError("the upstream client is not started")
        try:
            # No redirects: a provider's 3xx goes back to the client rather than carrying the
            # secret (x-api-key is not stripped on cross-host redirects) to another host.
            return await self._session.request(
                method,
                url,
                data=body or None,
                headers={**headers, "accept-encoding": "identity"},
                allow_redirects=False,
            )
        except (TimeoutError, aiohttp.ConnectionTimeoutError, aiohttp.ServerTimeoutError):
            raise timeout(provider) from None
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, OSError):
            raise unreachable(provider) from None


def forwarded_headers(client_headers: Mapping[str, str]) -> dict[str, str]:
    return {
        name: value
        for name in FORWARDED_REQUEST_HEADERS
        if (value := client_headers.get(name)) is not None
    }


def response_headers(upstream_headers: Mapping[str, str]) -> dict[str, str]:
    passed: dict[str, str] = {}
    for name, value in upstream_headers.items():
        lowered = name.lower()
        if lowered in RESPONSE_HEADERS or lowered.startswith(RESPONSE_HEADER_PREFIXES):
            passed[lowered] = value
        elif lowered in UPSTREAM_REQUEST_ID_HEADERS:
            passed["x-upstream-request-id"] = value
    return passed


def timeout(provider: Provider) -> ProxyError:
    return ProxyError(
        ErrorKind.UPSTREAM_TIMEOUT, f"The {provider.name.lower()} API did not answer in time."
    )


def unreachable(provider: Provider) -> ProxyError:
    return ProxyError(
        ErrorKind.UPSTREAM_UNREACHABLE,
        f"The {provider.name.lower()} API could not be reached or dropped the connection.",
    )
