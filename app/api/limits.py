"""Limits on what a request may carry before any route sees it: the headers (431) and, for
everything but an upload (which streams to disk under its own limit), the body (413), both
in the path's error shape. A body is read here, up to the limit, before the route runs, so a
chunked one without a Content-Length is cut off too, and a route never meets a body it
cannot hold. The server itself refuses headers past `MAX_HEADER_BYTES_HARD` (uvicorn's h11
limit), where no answer in our shape is possible."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.error_handlers import error_response_at
from app.store.errors import StudioError, TooLargeError

MAX_HEADER_BYTES = 16 * 1024
MAX_HEADER_BYTES_HARD = 64 * 1024  # see app.commands: h11_max_incomplete_event_size
MAX_BODY_BYTES = 1024 * 1024
UPLOAD_PATHS = ("/api/v1/datasets",)  # streamed to disk, limited by STUDIO_MAX_UPLOAD_BYTES


class HeadersTooLargeError(StudioError):
    status = 431
    code = "headers_too_large"


class RequestLimitsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header_bytes = sum(len(k) + len(v) + 4 for k, v in scope["headers"])
        if header_bytes > MAX_HEADER_BYTES:
            message = (
                f"the request's headers are {header_bytes:,} bytes; at most {MAX_HEADER_BYTES:,}"
            )
            too_large = error_response_at(scope["path"], HeadersTooLargeError(message))
            await too_large(scope, receive, send)
            return
        if scope["method"] == "POST" and scope["path"] in UPLOAD_PATHS:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            await _too_large(scope, receive, send)
            return
        first = await _read_body(receive)
        if first is None:
            await _too_large(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return first
            return await receive()

        await self.app(scope, replay, send)


async def _read_body(receive: Receive) -> Message | None:
    """The whole body as one message (or the disconnect that ended it); None past the limit."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return message
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    message = f"the request's body is over {MAX_BODY_BYTES:,} bytes (uploads go to POST /datasets)"
    await error_response_at(scope["path"], TooLargeError(message))(scope, receive, send)
