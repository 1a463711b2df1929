"""Field guards. Anonymous callers reach only sign-up, login, refresh and introspection."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info


class IsAuthenticated(BasePermission):
    message = "Authentication required: send `Authorization: Bearer <token>`."
    error_extensions = {"code": "UNAUTHENTICATED"}

    def has_permission(self, source: Any, info: Info[Any, Any], **kwargs: Any) -> bool:
        return bool(info.context.principal.is_authenticated)
