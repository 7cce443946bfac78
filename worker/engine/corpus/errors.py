"""The corpus builder's own failures, beside worker.engine.errors.DataError for bad input."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from worker.engine.errors import DataError

if TYPE_CHECKING:
    from worker.engine.corpus.report import CorpusReport


class OutputLimitReached(Exception):  # noqa: N818 (the name the service codes against)
    """The corpus would be larger than options.max_output_bytes; the partial file is gone.

    Not a DataError: nothing is wrong with the input, it is only too big to build while a
    request waits (the service hands such a build to a background job).
    """

    def __init__(self, limit: int) -> None:
        super().__init__(f"the corpus would be larger than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class FieldChoice:
    """A string field the user could pick as the text field, with what it holds."""

    name: str
    examples: list[str]  # up to 3 values from the first records, each cut to ~200 characters


class TextFieldError(DataError):
    """The text field cannot be chosen: none given and several string fields, none named
    `text` or `content`; or the given (or default) field is missing from a file."""

    def __init__(self, message: str, choices: list[FieldChoice]) -> None:
        super().__init__(message, field="text_field")
        self.choices = choices


class EmptyCorpusError(DataError):
    """Every input was empty or skipped: no document to train on. `report` says why."""

    def __init__(self, message: str, report: CorpusReport) -> None:
        super().__init__(message, field="file")
        self.report = report
