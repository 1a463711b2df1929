"""Ids as clients send them."""

from __future__ import annotations

import uuid

from app.errors import NotFound


def parse_id(raw: str, field: str = "id") -> uuid.UUID:
    """An id from a client; a malformed one is simply an id that matches nothing."""
    try:
        return uuid.UUID(raw)
    except (ValueError, AttributeError, TypeError):
        raise NotFound("No such object.", field=(field,)) from None
