"""Two helpers of prepare's passes: where a tail validation split starts, and one progress
scale over the scan, (bpe) training and encode passes."""

from __future__ import annotations

from dataclasses import dataclass

from worker.engine.data.textscan import TextChunk
from worker.engine.data.textstats import Progress


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


@dataclass(frozen=True)
class TailSplit:
    offset: int  # file offset where the validation text starts
    at_line_boundary: bool  # False: cut mid-line (no line or document start after the cut)
    characters_before: int  # characters (NULs not counted) before the offset
    documents_ended_before: int  # NULs before the offset
    at_document_start: bool  # right after a NUL: no document is cut in two


class SplitFinder:
    """The validation split starts at the first line or document start at or after the cut
    point (the last val_fraction of the text's bytes); if none is left, at the cut point."""

    def __init__(self, text_start: int, total: int, val_fraction: float) -> None:
        self._total = total
        self._cut = text_start + round((total - text_start) * (1 - val_fraction))
        self._line_start: TailSplit | None = None
        self._char_start: TailSplit | None = None

    def add(self, chunk: TextChunk, characters_before: int, nuls_before: int) -> None:
        """The next chunk, with the characters (NULs not counted) and NULs before it."""
        if self._line_start is not None or chunk.end < self._cut:
            return
        # a line (or document) starts at the cut when the byte before it is a newline (NUL)
        search_from = max(self._cut - 1 - chunk.start, 0)
        found = [i for i in (chunk.data.find(b, search_from) for b in (b"\n", b"\0")) if i >= 0]
        if found and chunk.start + min(found) + 1 < self._total:
            index = min(found) + 1
            self._line_start = self._split(chunk, index, characters_before, nuls_before, True)
        if self._char_start is None and chunk.start <= self._cut < chunk.end:
            index = self._cut - chunk.start
            while index < len(chunk.data) and 0x80 <= chunk.data[index] < 0xC0:
                index += 1  # move off a continuation byte to the next character
            self._char_start = self._split(chunk, index, characters_before, nuls_before, False)

    @staticmethod
    def _split(
        chunk: TextChunk, index: int, characters_before: int, nuls_before: int, at_line: bool
    ) -> TailSplit:
        head = chunk.data[:index]  # ends between characters
        nuls = head.count(b"\0")
        return TailSplit(
            offset=chunk.start + index,
            at_line_boundary=at_line,
            characters_before=characters_before + len(head.decode("utf-8")) - nuls,
            documents_ended_before=nuls_before + nuls,
            at_document_start=head.endswith(b"\0"),
        )

    def result(self, characters: int, nuls: int) -> TailSplit:
        """Given the file's characters and NULs (for a split at its very end)."""
        if self._line_start is not None:
            return self._line_start
        if self._char_start is not None:
            return self._char_start
        return TailSplit(self._total, False, characters, nuls, True)
