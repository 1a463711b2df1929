"""Facts about HTTP errors shared by the GraphQL edge and the proxy."""

from __future__ import annotations

from litestar.exceptions import HTTPException

# Litestar reports a client that hung up before sending its whole body as a 500 with this
# detail; nobody is left to answer and nothing is wrong on our side.
_CLIENT_GONE = "client disconnected prematurely"


def is_client_gone(error: BaseException) -> bool:
    return isinstance(error, HTTPException) and error.detail == _CLIENT_GONE


# What a client is told to wait when the database is unavailable (503 Retry-After): long enough
# for a restart or a failover to finish, short enough that the official SDKs' retries get through.
RETRY_AFTER_SECONDS = 5
DATABASE_UNAVAILABLE_MESSAGE = "The service cannot reach its database right now; retry shortly."
