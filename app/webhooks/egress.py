"""Calling a project's webhook endpoints without letting them point us at our own network.

A URL names a host, and a host can resolve to anything, 127.0.0.1 or the cloud's metadata
address included, and differently from one lookup to the next. So the check happens where the
connection is made: the network backend below resolves the name, refuses the connection when any
address is private, loopback, link-local, reserved or otherwise not public, and connects to the
address it checked. TLS still verifies the certificate against the URL's host name.

Redirects are never followed (a 3xx is a failed attempt), responses are read to 64 KiB at most,
and an attempt has a connect timeout and a total timeout.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass

import anyio
import httpcore
import httpx

MAX_URL_LENGTH = 2048
MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "TrayLinx-Webhooks/1"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Not public although Python's `is_global` may say otherwise on some versions.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class EgressRefused(Exception):
    """An endpoint we will not call; the message names the address class, never a secret."""


def address_problem(address: IPAddress) -> str | None:
    """Why we will not connect to `address`, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or (
            ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in _NAT64 else None
        )
        if embedded is not None:
            return address_problem(embedded)
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if address.is_private:
        return "a private address"
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        return "not a public address"
    return None


def url_problem(url: str, *, allow_private: bool) -> str | None:
    """What is wrong with an endpoint URL as given (before any DNS lookup), or None."""
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    try:
        parsed = httpx.URL(url)
        # Decoding an internationalised name can fail even once the URL parsed
        # (`xn--a.com` is no valid punycode): a bad URL as well.
        parsed.host  # noqa: B018
    except (httpx.InvalidURL, ValueError, UnicodeError):
        return "is not a valid URL"
    if parsed.scheme not in {"http", "https"}:
        return "must be an http:// or https:// URL"
    if not parsed.host:
        return "must name a host"
    if not _is_host_name(parsed.raw_host.decode("ascii", "replace")):
        return "is not a valid URL (its host is no DNS name or IP address)"
    if parsed.userinfo:
        return "must not carry a user name or password (sign with the webhook secret instead)"
    if parsed.fragment:
        return "must not have a #fragment"
    if allow_private:
        return None
    host = parsed.host.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return "points at this machine (localhost)"
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return None
    problem = address_problem(literal)
    return f"points at {problem}" if problem else None


# Labels of letters, digits, hyphens (and underscores, which some internal names use); the
# ASCII form, so internationalised names pass as punycode.
_LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"{_LABEL}(\.{_LABEL})*\.?")


def _is_host_name(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return _HOST_NAME.fullmatch(host.lower()) is not None
    return True


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks every address, and connects to the one it checked."""

    def __init__(self, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        address = await self._checked_address(host, port)
        return await self._inner.connect_tcp(
            address,
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def _checked_address(self, host: str, port: int) -> str:
        try:
            found = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            raise EgressRefused(f"the host name {host!r} does not resolve") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in found]
        if not addresses:
            raise EgressRefused(f"the host name {host!r} does not resolve")
        if not self._allow_private:
            for address in addresses:
                problem = address_problem(address)
                if problem:
                    raise EgressRefused(f"{host} resolves to {problem}; not called")
        return str(addresses[0])

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@dataclass(frozen=True)
class Attempt:
    """What one POST came to."""

    ok: bool
    status: int | None
    elapsed_ms: int
    error: str | None = None


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """Built once per process: loading the CA bundle costs about 50 ms, and the context is
    read-only once made."""
    return httpx.create_ssl_context(trust_env=False)


class WebhookSender:
    def __init__(
        self,
        *,
        allow_private: bool,
        connect_timeout: float,
        total_timeout: float,
        max_connections: int = 100,
    ) -> None:
        self._total_timeout = total_timeout
        tls = _tls_context()
        transport = httpx.AsyncHTTPTransport(verify=tls, trust_env=False)
        # httpx takes no network backend of its own: the pool it would have built, with ours.
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=tls,
            max_connections=max_connections,
            max_keepalive_connections=min(max_connections, 20),
            keepalive_expiry=30,
            network_backend=_CheckedBackend(allow_private),
        )
        self._client = httpx.AsyncClient(
            transport=transport,
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(total_timeout, connect=connect_timeout),
        )

    async def post(self, url: str, body: str, headers: dict[str, str]) -> Attempt:
        started = time.monotonic()

        def attempt(status: int | None, error: str | None) -> Attempt:
            elapsed = int((time.monotonic() - started) * 1000)
            ok = error is None and status is not None and 200 <= status < 300
            return Attempt(ok=ok, status=status, elapsed_ms=elapsed, error=error)

        try:
            async with asyncio.timeout(self._total_timeout):
                status = await self._post(url, body, headers)
        except EgressRefused as refused:
            return attempt(None, str(refused))
        except TimeoutError:
            return attempt(None, f"no answer within {self._total_timeout:g} s")
        except httpx.TimeoutException:
            return attempt(None, "timed out")
        except httpx.ConnectError:
            return attempt(None, "could not connect")
        except httpx.HTTPError as error:
            return attempt(None, f"HTTP error ({type(error).__name__})")
        if 300 <= status < 400:
            return attempt(status, f"redirect not followed (HTTP {status})")
        if not 200 <= status < 300:
            return attempt(status, f"HTTP {status}")
        return attempt(status, None)

    async def _post(self, url: str, body: str, headers: dict[str, str]) -> int:
        request = self._client.build_request(
            "POST",
            url,
            content=body.encode(),
            headers={
                **headers,
                "content-type": "application/json",
                "user-agent": USER_AGENT,
            },
        )
        response = await self._client.send(request, stream=True)
        try:
            # Read (and drop) what the endpoint answers, to a bound: the connection can then be
            # reused, and an endpoint answering forever costs us nothing.
            read = 0
            async for chunk in response.aiter_raw():
                read += len(chunk)
                if read >= MAX_RESPONSE_BYTES:
                    break
        finally:
            await response.aclose()
        return response.status_code

    async def close(self) -> None:
        await self._client.aclose()
