"""One JSON error shape for every error: {"error": {"code", "message", "field", "errors"}}.

`errors` lists every problem found, each {"code", "message", "field"} (a form shows each beside
its field); the first is the error's own code, message and field, so a client that reads only
those still sees one. A single problem is a list of one. An error that asks the caller to pick
a value also carries `choices` ({"value", "examples"} each).

Status and code live on the error classes (`app.store.errors`); `report_of` reads them, and
maps once the errors that are not ours (the engine's, the framework's, the broker's). The JSON
handler here and the HTML error pages (`app.web.error_pages`) both answer from its report."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from http import HTTPStatus
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException

from app.api.plain_errors import plain_errors
from app.store.broker import BrokerError, OutageLog
from app.store.broker import describe as describe_broker
from app.store.errors import (
    Choice,
    ChoiceError,
    ConflictError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    Problem,
    StudioError,
    TooLargeError,
    UnavailableError,
    UnsupportedMediaError,
    problems_of,
)
from worker.engine.errors import EngineError

log = logging.getLogger(__name__)

# Paths that are the API's (JSON errors, JSON 401s); everything else is a page.
API_PATH_PREFIXES = ("/api/", "/openapi.json", "/v1/")
# The OpenAI-compatible API (app.api.routes.openai_compat): its errors in OpenAI's shape.
OPENAI_PREFIX = "/v1"
# The generic errors, one a status: the code of a framework's error with that status.
GENERIC_ERRORS: tuple[type[StudioError], ...] = (
    StudioError,
    ForbiddenError,
    NotFoundError,
    ConflictError,
    TooLargeError,
    UnsupportedMediaError,
    InvalidError,
    UnavailableError,
)
_CODE_OF_STATUS = {error.status: error.code for error in GENERIC_ERRORS}
INTERNAL_CODE = "internal"
INTERNAL_MESSAGE = "internal server error; see the server log"


def is_api_path(path: str) -> bool:
    return path in ("/api", OPENAI_PREFIX) or path.startswith(API_PATH_PREFIXES)


def is_openai_path(path: str) -> bool:
    return path == OPENAI_PREFIX or path.startswith(OPENAI_PREFIX + "/")


class LoginRequiredError(Exception):
    """Raised by page dependencies: the browser is sent to the login page."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


@dataclass(frozen=True)
class ErrorReport:
    """What an error answers, as JSON or as an HTML page: status, code, message, field, every
    problem, the choices to pick from, and any headers (Retry-After, WWW-Authenticate)."""

    status: int
    code: str
    message: str
    field: str | None = None
    problems: list[Problem] = dataclasses.field(default_factory=list)
    choices: list[Choice] | None = None
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)


def code_of_status(status: int) -> str:
    """The generic error's code for a status (422 → invalid), else the status's phrase in
    snake case (405 → method_not_allowed)."""
    return _CODE_OF_STATUS.get(status) or HTTPStatus(status).phrase.lower().replace(" ", "_")


def _report_of_studio_error(exc: StudioError) -> ErrorReport:
    choices = exc.choices if isinstance(exc, ChoiceError) else None
    return ErrorReport(
        exc.status, exc.code, exc.message, exc.field, problems_of(exc), choices, exc.headers
    )


def _report_of_validation_error(exc: RequestValidationError) -> ErrorReport:
    problems = [
        Problem(InvalidError.code, str(e["message"]), e["field"])
        for e in plain_errors(exc.errors())
    ] or [Problem(InvalidError.code, "invalid request")]
    message = "; ".join(p.message for p in problems)
    return ErrorReport(InvalidError.status, InvalidError.code, message, problems[0].field, problems)


# FastAPI's words for a body it cannot decode (JSON that is not UTF-8), and ours.
_UNREADABLE_BODY = "There was an error parsing the body"
NOT_UTF8 = "the body is not UTF-8 (JSON bodies must be)"


def _report_of_http_exception(exc: HTTPException) -> ErrorReport:
    status = exc.status_code
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).phrase
    if status == 400 and message == _UNREADABLE_BODY:
        message = NOT_UTF8
    return ErrorReport(status, code_of_status(status), message, headers=dict(exc.headers or {}))


def report_of(exc: Exception) -> ErrorReport:
    """The one mapping of an exception to what it answers."""
    if isinstance(exc, StudioError):
        return _report_of_studio_error(exc)
    if isinstance(exc, EngineError):  # a problem with the user's input: the engine says which
        return ErrorReport(InvalidError.status, exc.reason, exc.message, exc.field)
    if isinstance(exc, RequestValidationError):
        return _report_of_validation_error(exc)
    if isinstance(exc, HTTPException):
        return _report_of_http_exception(exc)
    if isinstance(exc, BrokerError):
        return ErrorReport(UnavailableError.status, "broker_unavailable", describe_broker(exc))
    return ErrorReport(500, INTERNAL_CODE, INTERNAL_MESSAGE)


# Errors with a report of their own; any other exception is a fault of ours (500, logged).
_EXPECTED = (StudioError, EngineError, RequestValidationError, HTTPException, BrokerError)


_broker_outage = OutageLog(log, "requests that need the broker")


def reported(request: Request, exc: Exception) -> ErrorReport:
    """`report_of`, logged where the server's operator needs to know: a broker outage (once
    per outage) and every internal error (with its traceback)."""
    report = report_of(exc)
    if isinstance(exc, BrokerError):
        _broker_outage.failed(exc)
    elif not isinstance(exc, _EXPECTED):
        log.exception("unhandled error on %s", request.url.path, exc_info=exc)
    return report


def error_response(error: ErrorReport | StudioError) -> JSONResponse:
    """The one JSON error shape for a report (or one of our errors, reported)."""
    report = error if isinstance(error, ErrorReport) else report_of(error)
    problems = report.problems or [Problem(report.code, report.message, report.field)]
    body = {
        "code": report.code,
        "message": report.message,
        "field": report.field,
        "errors": [asdict(p) for p in problems],
    }
    if report.choices is not None:
        body["choices"] = [asdict(c) for c in report.choices]
    return JSONResponse({"error": body}, status_code=report.status, headers=dict(report.headers))


def openai_error_response(error: ErrorReport | StudioError) -> JSONResponse:
    """OpenAI's error shape, for /v1: {"error": {"message", "type", "param", "code"}}."""
    report = error if isinstance(error, ErrorReport) else report_of(error)
    body = {
        "message": report.message,
        "type": openai_error_type(report.status),
        "param": report.field,
        "code": report.code,
    }
    return JSONResponse({"error": body}, status_code=report.status, headers=dict(report.headers))


def openai_error_type(status: int) -> str:
    if status == 401:
        return "authentication_error"
    if status == 429:
        return "rate_limit_error"
    return "server_error" if status >= 500 else "invalid_request_error"


def error_response_at(path: str, error: ErrorReport | StudioError) -> JSONResponse:
    """The error shape of the path: OpenAI's under /v1, ours everywhere else."""
    if is_openai_path(path):
        return openai_error_response(error)
    return error_response(error)


async def _json_error(request: Request, exc: Exception) -> JSONResponse:
    return error_response_at(request.url.path, reported(request, exc))


async def _login_required(_request: Request, exc: Exception) -> RedirectResponse:
    assert isinstance(exc, LoginRequiredError)
    return RedirectResponse(f"/login?next={quote(exc.next_url, safe='/')}", status_code=303)


# The exceptions `report_of` maps; the HTML error pages take them over on page paths.
REPORTED_ERRORS: tuple[type[Exception], ...] = (*_EXPECTED, Exception)


def install_error_handlers(app: FastAPI) -> None:
    for exc_class in REPORTED_ERRORS:
        app.add_exception_handler(exc_class, _json_error)
    app.add_exception_handler(LoginRequiredError, _login_required)


__all__ = [
    "REPORTED_ERRORS",
    "ErrorReport",
    "LoginRequiredError",
    "error_response",
    "error_response_at",
    "install_error_handlers",
    "is_api_path",
    "report_of",
    "reported",
]
