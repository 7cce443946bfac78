"""One JSON error shape for every error: {"error": {"code", "message", "field", "errors"}}.

`errors` lists every problem found, each {"code", "message", "field"} (a form shows each beside
its field); the first is the error's own code, message and field, so a client that reads only
those still sees one. A single problem is a list of one. An error that asks the caller to pick
a value also carries `choices` ({"value", "examples"} each)."""

from __future__ import annotations

import logging
from dataclasses import asdict
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException

from app.api.plain_errors import plain_errors
from app.store.broker import BrokerError, OutageLog
from app.store.errors import Choice, ChoiceError, Problem, StudioError, problems_of
from worker.engine.errors import EngineError

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    503: "unavailable",
}
# Paths that are the API's (JSON errors, JSON 401s); everything else is a page.
API_PATH_PREFIXES = ("/api/", "/openapi.json")


def is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith(API_PATH_PREFIXES)


class LoginRequiredError(Exception):
    """Raised by page dependencies: the browser is sent to the login page."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict | None = None,
    errors: list[Problem] | None = None,
    choices: list[Choice] | None = None,
) -> JSONResponse:
    listed = [asdict(p) for p in errors] if errors else [asdict(Problem(code, message, field))]
    error = {"code": code, "message": message, "field": field, "errors": listed}
    if choices is not None:
        error["choices"] = [asdict(c) for c in choices]
    return JSONResponse({"error": error}, status_code=status, headers=headers)


async def _studio_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StudioError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    headers = getattr(exc, "headers", None) or headers
    choices = exc.choices if isinstance(exc, ChoiceError) else None
    return error_response(
        exc.status, exc.code, exc.message, exc.field, headers, problems_of(exc), choices
    )


async def _engine_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EngineError)
    return error_response(422, exc.reason, exc.message, exc.field)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        Problem("invalid", str(e["message"]), e["field"]) for e in plain_errors(exc.errors())
    ] or [Problem("invalid", "invalid request")]
    message = "; ".join(p.message for p in problems)
    return error_response(422, "invalid", message, problems[0].field, errors=problems)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _CODES.get(exc.status_code, HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_"))
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return error_response(exc.status_code, code, message, None, dict(exc.headers or {}) or None)


async def _login_required(_request: Request, exc: Exception) -> RedirectResponse:
    assert isinstance(exc, LoginRequiredError)
    from urllib.parse import quote

    return RedirectResponse(f"/login?next={quote(exc.next_url, safe='/')}", status_code=303)


_broker_outage = OutageLog(log, "API requests that need the broker")


async def _broker_error(_request: Request, exc: Exception) -> JSONResponse:
    _broker_outage.failed(exc)
    message = "the broker (Redis) is not answering; try again in a moment"
    return error_response(503, "broker_unavailable", message)


async def _internal_error(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal", "internal server error; see the server log")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StudioError, _studio_error)
    app.add_exception_handler(EngineError, _engine_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(LoginRequiredError, _login_required)
    app.add_exception_handler(BrokerError, _broker_error)
    app.add_exception_handler(Exception, _internal_error)


__all__ = [
    "LoginRequiredError",
    "error_response",
    "install_error_handlers",
    "is_api_path",
]
