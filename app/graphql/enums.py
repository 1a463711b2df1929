"""GraphQL enums from the domain's Python enums, with a description for every value."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import TypeVar

import strawberry

E = TypeVar("E", bound=type[Enum])


def described_enum(cls: E, *, name: str, description: str, values: Mapping[Enum, str]) -> E:
    """`strawberry.enum`, each value described; a value left undescribed fails at import, so
    the schema cannot gain an enum value nobody explained."""
    missing = [member.name for member in cls if member not in values]
    if missing:
        raise TypeError(f"{name}: describe {', '.join(missing)}")
    described = strawberry.enum(cls, name=name, description=description)
    by_value = {member.value: text for member, text in values.items()}
    for value in described.__strawberry_definition__.values:  # type: ignore[attr-defined]
        value.description = by_value[value.value]
    return described
