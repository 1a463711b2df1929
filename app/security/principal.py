"""Who is calling: the one object every service receives to decide what the caller may do."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class PrincipalKind(StrEnum):
    ANONYMOUS = "anonymous"
    USER = "user"
    PROJECT = "project"  # a project acting through one of its API keys
    SYSTEM = "system"  # a part of the service acting on its own; no project grants it anything


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    client_ip: str | None = None
    user_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None
    api_key_id: str | None = None
    # For SYSTEM: which part of the service ("scanner", "github_secret_scanning", "webhooks").
    system: str | None = None
    # The caller's standing in each project it touched (app/projects/access.py), read once per
    # request: a principal lives exactly as long as its request.
    standing: dict[uuid.UUID, Any] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

    @classmethod
    def anonymous(cls, client_ip: str | None = None) -> Principal:
        return cls(kind=PrincipalKind.ANONYMOUS, client_ip=client_ip)

    @classmethod
    def user(cls, user_id: uuid.UUID, client_ip: str | None = None) -> Principal:
        return cls(kind=PrincipalKind.USER, user_id=user_id, client_ip=client_ip)

    @classmethod
    def project(
        cls, project_id: uuid.UUID, api_key_id: str, client_ip: str | None = None
    ) -> Principal:
        return cls(
            kind=PrincipalKind.PROJECT,
            project_id=project_id,
            api_key_id=api_key_id,
            client_ip=client_ip,
        )

    @classmethod
    def acting_system(cls, name: str) -> Principal:
        return cls(kind=PrincipalKind.SYSTEM, system=name)

    @property
    def is_authenticated(self) -> bool:
        return self.kind is not PrincipalKind.ANONYMOUS
