"""Two helpers of prepare's passes: where the validation split starts, and one progress
scale over the scan, (bpe) training and encode passes."""

from __future__ import annotations

from worker.engine.textscan import TextChunk
from worker.engine.textstats import Progress


class ProgressReport:
    """Maps each pass's bytes onto one 0..total scale."""

    def __init__(
        self, callback: Progress | None, total: int, scan_share: float, train_share: float
    ) -> None:
        self._callback = callback
        self._total = total
        self._scan_share = scan_share
        self._train_share = train_share

    def scanned(self, done: int) -> None:
        self._emit(self._scan_share * done)

    def trained(self, done: int, of: int) -> None:
        """`done` bytes of the `of` bytes of the training split fed to the trainer."""
        self._emit((self._scan_share + self._train_share * done / max(of, 1)) * self._total)

    def encoded(self, done: int) -> None:
        before = self._scan_share + self._train_share
        self._emit(before * self._total + (1 - before) * done)

    def done(self) -> None:
        self._emit(self._total)

    def _emit(self, done: float) -> None:
        if self._callback is not None:
            self._callback(min(round(done), self._total), self._total)


class SplitFinder:
    """The validation split starts at the first line start at or after the cut point (the
    last val_fraction of the text's bytes); if none is left, at the cut point itself."""

    def __init__(self, text_start: int, total: int, val_fraction: float) -> None:
        self._total = total
        self._cut = text_start + round((total - text_start) * (1 - val_fraction))
        self._line_start: int | None = None
        self._char_start: int | None = None

    def add(self, chunk: TextChunk) -> None:
        if self._line_start is not None or chunk.end < self._cut:
            return
        # a line starts at the cut when the byte before it is a newline
        search_from = max(self._cut - 1 - chunk.start, 0)
        newline = chunk.data.find(b"\n", search_from)
        if newline >= 0 and chunk.start + newline + 1 < self._total:
            self._line_start = chunk.start + newline + 1
        if self._char_start is None and chunk.start <= self._cut < chunk.end:
            index = self._cut - chunk.start
            while index < len(chunk.data) and 0x80 <= chunk.data[index] < 0xC0:
                index += 1  # move off a continuation byte to the next character
            self._char_start = chunk.start + index

    def result(self) -> tuple[int, bool]:
        if self._line_start is not None:
            return self._line_start, True
        return (self._char_start if self._char_start is not None else self._total), False
