"""Errors the service raises for the caller to fix. Each class carries its HTTP status and
error code: the one table the API's JSON errors and the HTML error pages both read
(`app.api.error_handlers.report_of`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


class StudioError(Exception):
    status = 400
    code = "bad_request"
    headers: Mapping[str, str] = MappingProxyType({})  # sent with the error (Retry-After ...)

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class ForbiddenError(StudioError):
    status = 403
    code = "forbidden"


class NotFoundError(StudioError):
    status = 404
    code = "not_found"


class ConflictError(StudioError):
    status = 409
    code = "conflict"


class InvalidError(StudioError):
    status = 422
    code = "invalid"


class TooLargeError(StudioError):
    status = 413
    code = "too_large"


class UnsupportedMediaError(StudioError):
    status = 415
    code = "unsupported_media_type"


class UnavailableError(StudioError):
    status = 503
    code = "unavailable"


@dataclass(frozen=True)
class Choice:
    """One value the caller may pick for the field an error names, with what it would mean."""

    value: str
    examples: list[str]


class ChoiceError(InvalidError):
    """422: the request must pick one of `choices` for `field` (the error shape's `choices`)."""

    def __init__(self, message: str, *, field: str, code: str, choices: list[Choice]) -> None:
        super().__init__(message, field=field, code=code)
        self.choices = choices


@dataclass(frozen=True)
class Problem:
    """One problem of several, naming its field: an entry of the error shape's `errors`."""

    code: str
    message: str
    field: str | None = None


class ProblemsError(InvalidError):
    """Every problem found at once (422); the first is also the error's own message and field,
    so a client that reads only those still sees one."""

    def __init__(self, problems: list[Problem], *, code: str | None = None) -> None:
        assert problems, "a ProblemsError needs at least one problem"
        first = problems[0]
        super().__init__(first.message, field=first.field, code=code or first.code)
        self.problems = problems


def problems_of(exc: StudioError) -> list[Problem]:
    """The `errors` list of an error: its problems, or itself alone."""
    if isinstance(exc, ProblemsError):
        return exc.problems
    return [Problem(exc.code, exc.message, exc.field)]
