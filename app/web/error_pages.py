"""Errors on page paths answer with an HTML page in the site's style; /api and /openapi.json
keep the one JSON error shape. Wraps the handlers `install_error_handlers` set."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from app.api.error_handlers import is_api_path
from app.store.broker import BrokerError
from app.store.errors import StudioError
from app.web.templating import render

log = logging.getLogger(__name__)

Handler = Callable[[Request, Exception], Awaitable[Response] | Response]

_TITLES = {
    404: "Not found",
    500: "Something went wrong",
}
_ADVICE = {
    404: "There is nothing at this address. It may have been deleted, or the link is mistyped.",
    500: "The server hit a problem it did not expect. The details are in the server's log.",
}


def is_page_path(path: str) -> bool:
    return not is_api_path(path)


def error_page(request: Request, status: int, detail: str | None = None) -> Response:
    title = _TITLES.get(status) or HTTPStatus(status).phrase
    return render(
        request,
        "error.html",
        status=status,
        code=status,
        title=title,
        advice=_ADVICE.get(status, ""),
        detail=detail,
    )


def _status_and_detail(exc: Exception) -> tuple[int, str | None]:
    if isinstance(exc, StudioError):
        return exc.status, exc.message
    if isinstance(exc, BrokerError):
        return 503, "the broker (Redis) is not answering; try again in a moment"
    if isinstance(exc, HTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else None
        phrase = HTTPStatus(exc.status_code).phrase
        return exc.status_code, None if detail == phrase else detail
    return 500, None


def _wrap(previous: Handler | None) -> Handler:
    async def handler(request: Request, exc: Exception) -> Response:
        if not is_page_path(request.url.path) and previous is not None:
            result = previous(request, exc)
            return await result if isinstance(result, Awaitable) else result
        status, detail = _status_and_detail(exc)
        if status >= 500:
            log.exception("error on page %s", request.url.path, exc_info=exc)
        return error_page(request, status, detail)

    return handler


def install_error_pages(app: FastAPI) -> None:
    for exc_class in (StudioError, HTTPException, BrokerError, Exception):
        previous = app.exception_handlers.get(exc_class)
        app.add_exception_handler(exc_class, _wrap(previous))
