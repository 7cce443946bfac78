"""Errors the engine raises for problems a user can fix, each naming what is at fault."""

from __future__ import annotations

from typing import Literal

# Failure classes a run can end in; the service stores them on the run row.
Reason = Literal[
    "config", "data", "oom", "diverged", "disk_full", "cancelled", "worker_lost", "internal"
]


class EngineError(Exception):
    """A problem with the user's input or config, with the field or file it is about."""

    reason: Reason = "config"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, str | None]:
        return {"code": self.reason, "message": self.message, "field": self.field}


class ConfigError(EngineError):
    """An invalid knob or combination of knobs, found before any work starts."""

    reason: Reason = "config"


class DataError(EngineError):
    """The text or token files cannot be used: not UTF-8, empty, too short, mismatched."""

    reason: Reason = "data"


class NotTextError(DataError):
    """A file is not text in any format the engine reads (an image, a binary, not UTF-8): the
    wrong kind of file, where other DataErrors are the right kind that cannot be used."""


class DivergedError(EngineError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""

    reason: Reason = "diverged"


class DiskFullError(EngineError):
    """No room for a checkpoint: found before writing it, or by the write itself. The previous
    checkpoint is intact."""

    reason: Reason = "disk_full"
