"""Errors on page paths answer with an HTML page in the site's style; /api and /openapi.json
keep the one JSON error shape. Both answer from the same report
(`app.api.error_handlers.report_of`): the page takes over every handler `install_error_handlers`
set, on page paths."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from app.api.error_handlers import (
    INTERNAL_CODE,
    REPORTED_ERRORS,
    ErrorReport,
    is_api_path,
    reported,
)
from app.web.templating import render

Handler = Callable[[Request, Exception], Awaitable[Response] | Response]

_TITLES = {
    404: "Not found",
    500: "Something went wrong",
}
_ADVICE = {
    404: "There is nothing at this address. It may have been deleted, or the link is mistyped.",
    422: "Something in the address is not valid here; the detail below says what.",
    500: "The server hit a problem it did not expect. The details are in the server's log.",
}


def is_page_path(path: str) -> bool:
    return not is_api_path(path)


def error_page(request: Request, report: ErrorReport) -> Response:
    status = report.status
    phrase = HTTPStatus(status).phrase
    title = _TITLES.get(status) or phrase
    # The message, unless it only says the status again or hides a fault of ours.
    said = report.code == INTERNAL_CODE or report.message.lower() in (phrase.lower(), title.lower())
    response = render(
        request,
        "error.html",
        status=status,
        code=status,
        title=title,
        advice=_ADVICE.get(status, ""),
        detail=None if said else report.message,
    )
    response.headers.update(report.headers)
    return response


def _wrap(previous: Handler) -> Handler:
    async def handler(request: Request, exc: Exception) -> Response:
        if not is_page_path(request.url.path):
            result = previous(request, exc)
            return await result if isinstance(result, Awaitable) else result
        return error_page(request, reported(request, exc))

    return handler


def install_error_pages(app: FastAPI) -> None:
    for exc_class in REPORTED_ERRORS:
        app.add_exception_handler(exc_class, _wrap(app.exception_handlers[exc_class]))
