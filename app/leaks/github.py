"""GitHub's secret-scanning partner endpoint: `POST /secret-scanning/github`.

GitHub sends the tokens of our format it finds in public code as a JSON array, signed with
ECDSA P-256 over the raw body (`Github-Public-Key-Identifier`, `Github-Public-Key-Signature`).
The signature is checked against GitHub's published keys before anything else; a report that is
unsigned or mis-signed is 401 and changes nothing. Each token is answered with the label format
GitHub documents (`token_hash`, `token_type`, `label`); live keys are acted on per
TRAYLINX_LEAKED_KEY_ACTION (see `LeakService.report`). Reports replayed or sent twice act once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from litestar import Request, Response, post
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from app.leaks.service import KeyStatus, LeakReport, Reporter
from app.security import tokens
from app.settings import LeakConfig

log = logging.getLogger(__name__)

KEY_ID_HEADER = "github-public-key-identifier"
SIGNATURE_HEADER = "github-public-key-signature"
# GitHub batches its matches; more than this in one report is not a report of ours.
MAX_TOKENS_PER_REPORT = 1000
MAX_FIELD_LENGTH = 2048
# Keys are looked up again for an unknown identifier, but not more often than this: a flood of
# made-up identifiers must not become a flood of requests to GitHub.
REFETCH_AT_MOST_EVERY = 60.0
KEYS_FRESH_FOR = 24 * 3600.0


class KeysUnavailable(Exception):
    """GitHub's keys could not be read: the report cannot be checked now (GitHub retries)."""


class GitHubKeys:
    """GitHub's secret-scanning public keys, by identifier, fetched and cached."""

    def __init__(self, config: LeakConfig) -> None:
        self._config = config
        self._keys: dict[str, ec.EllipticCurvePublicKey] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key(self, key_id: str) -> ec.EllipticCurvePublicKey | None:
        known = self._keys.get(key_id)
        stale = time.monotonic() - self._fetched_at > KEYS_FRESH_FOR
        if known is not None and not stale:
            return known
        async with self._lock:
            if key_id not in self._keys or stale:
                await self._refetch()
        if not self._keys:
            raise KeysUnavailable("no keys read yet")
        return self._keys.get(key_id)

    async def _refetch(self) -> None:
        if time.monotonic() - self._fetched_at < REFETCH_AT_MOST_EVERY:
            return
        self._fetched_at = time.monotonic()
        try:
            self._keys = await self._fetch()
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
            # The keys known so far stay; GitHub retries a report answered 503.
            log.warning("GitHub's scanning keys could not be read: %s", type(error).__name__)

    async def _fetch(self) -> dict[str, ec.EllipticCurvePublicKey]:
        headers = {"Accept": "application/json"}
        if self._config.github_token is not None:
            headers["Authorization"] = f"Bearer {self._config.github_token.reveal()}"
        async with httpx.AsyncClient(timeout=10, follow_redirects=False) as client:
            response = await client.get(self._config.github_keys_url, headers=headers)
        response.raise_for_status()
        keys: dict[str, ec.EllipticCurvePublicKey] = {}
        for entry in response.json()["public_keys"]:
            key = load_pem_public_key(entry["key"].encode())
            # ECDSA on P-256 only: a key of another kind cannot have signed a report.
            if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
                keys[str(entry["key_identifier"])] = key
        return keys


@dataclass(frozen=True)
class _Match:
    token: str
    type: str
    url: str
    source: str


def _signature(request: Request[Any, Any, Any]) -> tuple[str, bytes] | None:
    key_id = request.headers.get(KEY_ID_HEADER, "").strip()
    encoded = request.headers.get(SIGNATURE_HEADER, "").strip()
    if not key_id or not encoded:
        return None
    try:
        return key_id, base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None


def _verified(key: ec.EllipticCurvePublicKey, signature: bytes, body: bytes) -> bool:
    try:
        key.verify(signature, body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def _matches(body: bytes) -> list[_Match] | str:
    """The report's matches, or what is wrong with it."""
    try:
        decoded = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "The body is not JSON."
    if not isinstance(decoded, list):
        return "The body must be a JSON array of matches."
    if len(decoded) > MAX_TOKENS_PER_REPORT:
        return f"At most {MAX_TOKENS_PER_REPORT} matches per report."
    matches = []
    for item in decoded:
        if not isinstance(item, dict) or not isinstance(item.get("token"), str):
            return "Each match must be an object with a string `token`."
        fields = [item.get(name) or "" for name in ("type", "url", "source")]
        if not all(isinstance(value, str) and len(value) <= MAX_FIELD_LENGTH for value in fields):
            return "`type`, `url` and `source` must be strings of at most 2048 characters."
        matches.append(_Match(item["token"], *fields))
    return matches


def _answer(message: str, status: int) -> Response[Any]:
    return Response({"message": message}, status_code=status)


@post("/secret-scanning/github", status_code=HTTP_200_OK)
async def github_secret_scanning(request: Request[Any, Any, Any]) -> Response[Any]:
    services = request.app.state.services
    body = await request.body()
    signed = _signature(request)
    if signed is None:
        return _answer("Unsigned report.", HTTP_401_UNAUTHORIZED)
    key_id, signature = signed
    try:
        key = await services.github_keys.key(key_id)
    except KeysUnavailable:
        log.warning("a GitHub report arrived while GitHub's keys could not be read")
        return Response(
            {"message": "Cannot check signatures now; try again later."},
            status_code=HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "60"},
        )
    if key is None or not _verified(key, signature, body):
        log.warning("a secret-scanning report with a bad signature was refused")
        return _answer("Bad signature.", HTTP_401_UNAUTHORIZED)
    matches = _matches(body)
    if isinstance(matches, str):
        return _answer(matches, HTTP_400_BAD_REQUEST)
    labels = [await _label(services, match) for match in matches]
    return Response(labels, status_code=HTTP_200_OK)


async def _label(services: Any, match: _Match) -> dict[str, str]:
    """GitHub's feedback for one match, after acting on it when it is a live key of ours."""
    status = KeyStatus.UNKNOWN
    try:
        tokens.parse_project_key(match.token)
    except tokens.MalformedProjectKey:
        pass
    else:
        report = LeakReport(reporter=Reporter.GITHUB, place=match.url, source=match.source)
        outcome = await services.leaks.report(match.token, report, services.settings.leaks.action)
        status = outcome.status
    return {
        "token_hash": hashlib.sha256(match.token.encode()).hexdigest(),
        "token_type": match.type,
        "label": "false_positive" if status is KeyStatus.UNKNOWN else "true_positive",
    }
