"""DateTime: ISO 8601 with an explicit offset in, UTC out.

A naive time ("2027-01-01T00:00:00") is ambiguous across servers and clients, so it is rejected
rather than guessed.
"""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

DATETIME_HELP = "Use ISO 8601 with a UTC offset, for example 2027-01-31T09:00:00Z."


def parse_datetime(value: object) -> datetime | None:
    if not isinstance(value, str):
        raise ValueError(f"DateTime must be a string. {DATETIME_HELP}")
    if not value.strip():
        # Forms send "" for "no date" (e.g. a key that never expires): the same as null.
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"Not a valid DateTime. {DATETIME_HELP}") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"DateTime needs a UTC offset. {DATETIME_HELP}")
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
