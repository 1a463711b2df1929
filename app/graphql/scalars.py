"""DateTime: ISO 8601 with an explicit offset in, UTC out.

A naive time ("2027-01-01T00:00:00") is ambiguous across servers and clients, so it is rejected
rather than guessed.
"""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry
from graphql import GraphQLError

DATETIME_HELP = "Use ISO 8601 with a UTC offset, for example 2027-01-31T09:00:00Z."


# Far enough for any expiry or report, and far from datetime's limits, so date arithmetic on an
# accepted value never overflows.
MIN_YEAR, MAX_YEAR = 1970, 9000


def parse_datetime(value: object) -> datetime | None:
    """Raises GraphQLError: a plain ValueError from a literal in the query would be masked."""
    if not isinstance(value, str):
        raise GraphQLError(f"DateTime must be a string. {DATETIME_HELP}")
    if not value.strip():
        # Forms send "" for "no date" (e.g. a key that never expires): the same as null.
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise GraphQLError(f"Not a valid DateTime. {DATETIME_HELP}") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise GraphQLError(f"DateTime needs a UTC offset. {DATETIME_HELP}")
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise GraphQLError(f"DateTime must fall between the years {MIN_YEAR} and {MAX_YEAR}.")
    return parsed.astimezone(UTC)


def serialize_datetime(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# Mapped onto `datetime` in the schema config, so fields are annotated with plain `datetime`.
DATETIME_SCALAR = strawberry.scalar(
    name="DateTime",
    description="An instant in ISO 8601 with a UTC offset; always returned in UTC (Z).",
    serialize=serialize_datetime,
    parse_value=parse_datetime,
)
