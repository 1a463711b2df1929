"""Domain errors: the expected ways a request can fail, raised by services.

    DomainError                 base; `code` names the failure for clients
    ├── InvalidInput            one or more fields are wrong (carries FieldProblem list)
    ├── NotFound                the object does not exist *for this caller* (never "forbidden")
    ├── Forbidden               the caller may see the object but lacks the role to act on it
    ├── AlreadyExists           a uniqueness rule would be broken
    ├── InvalidCredentials      email/password pair rejected (same answer for either half)
    ├── TooManyAttempts         too many logIn attempts lately, for the account or the address
    ├── InvalidRefreshToken     refresh token unknown, expired, revoked or reused
    ├── LastOwner               the change would leave a project without an owner
    └── Unauthenticated         the operation needs a signed-in caller

The GraphQL layer maps each to a `UserError` in the mutation payload; the HTTP edge maps
authentication failures to 401. Messages are written for the API's users and never contain secrets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

T = TypeVar("T")


class ErrorCode(StrEnum):
    INVALID = "INVALID"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    TOO_MANY_ATTEMPTS = "TOO_MANY_ATTEMPTS"
    INVALID_REFRESH_TOKEN = "INVALID_REFRESH_TOKEN"
    LAST_OWNER = "LAST_OWNER"
    UNAUTHENTICATED = "UNAUTHENTICATED"


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with one input field; `field` is the path inside the input object."""

    field: tuple[str, ...]
    message: str
    code: ErrorCode = ErrorCode.INVALID


class DomainError(Exception):
    code: ErrorCode = ErrorCode.INVALID

    def __init__(self, message: str, *, field: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    @property
    def problems(self) -> list[FieldProblem]:
        return [FieldProblem(field=self.field, message=self.message, code=self.code)]

    @property
    def extensions(self) -> dict[str, str]:
        """Read by GraphQL when the error surfaces in a query field."""
        return {"code": self.code.value}


class InvalidInput(DomainError):
    code = ErrorCode.INVALID

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(problem.message for problem in problems))
        self._problems = problems

    @property
    def problems(self) -> list[FieldProblem]:
        return self._problems

    @classmethod
    def single(cls, field: str, message: str) -> InvalidInput:
        return cls([FieldProblem(field=(field,), message=message)])


class NotFound(DomainError):
    code = ErrorCode.NOT_FOUND


class Forbidden(DomainError):
    code = ErrorCode.FORBIDDEN


class AlreadyExists(DomainError):
    code = ErrorCode.ALREADY_EXISTS


class InvalidCredentials(DomainError):
    code = ErrorCode.INVALID_CREDENTIALS


class TooManyAttempts(DomainError):
    code = ErrorCode.TOO_MANY_ATTEMPTS


class InvalidRefreshToken(DomainError):
    code = ErrorCode.INVALID_REFRESH_TOKEN


class LastOwner(DomainError):
    code = ErrorCode.LAST_OWNER


class Unauthenticated(DomainError):
    code = ErrorCode.UNAUTHENTICATED


class ProblemCollector:
    """Gathers every problem with an input before failing, so clients fix them in one round."""

    def __init__(self) -> None:
        self._problems: list[FieldProblem] = []

    def add(self, field: str, message: str) -> None:
        self._problems.append(FieldProblem(field=(field,), message=message))

    def check(self, validate: Callable[[], T], *, otherwise: T) -> T:
        """Run one field's validator: what it refuses joins the other problems instead of
        ending the validation, and `otherwise` stands in for its value until `raise_if_any`."""
        try:
            return validate()
        except InvalidInput as error:
            self._problems.extend(error.problems)
            return otherwise

    def raise_if_any(self) -> None:
        if self._problems:
            raise InvalidInput(self._problems)
