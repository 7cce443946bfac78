"""Errors the service raises for the caller to fix; the API maps each to its HTTP status."""

from __future__ import annotations


class StudioError(Exception):
    status = 400
    code = "bad_request"

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
