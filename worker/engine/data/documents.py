"""Documents in a corpus file: where each ends (its NUL), how long each is, and a histogram.

A corpus file's documents each end with one NUL, except the text of a one-document corpus,
which has none (textscan.py). Everything here works on whole chunks with numpy, never a
Python loop over characters: a corpus may hold millions of documents and gigabytes of text.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from worker.engine.data.textscan import TextChunk

# Bucket k of the length histogram holds lengths 2**k .. 2**(k+1) - 1; 64 covers any int64.
_BUCKETS = 64
_CONTINUATION_MASK, _CONTINUATION = 0xC0, 0x80


def document_ends(chunk: TextChunk) -> np.ndarray:
    """The character offsets in chunk.text of its NULs, ascending (int64)."""
    if chunk.data.find(b"\0") < 0:  # memchr: the usual case (a plain text) costs nothing
        return np.zeros(0, dtype=np.int64)
    data = np.frombuffer(chunk.data, dtype=np.uint8)
    at = np.flatnonzero(data == 0)
    if at.size == 0 or chunk.text.isascii():  # isascii is O(1): bytes are characters
        return at
    # A character's offset is its byte offset less the UTF-8 continuation bytes before it.
    # They are summed between consecutive NULs (reduceat), so no array as long as the chunk
    # holds more than a byte per byte. Where two indices are equal reduceat gives the element
    # at that index, a NUL, which is no continuation byte: 0, the right count.
    continuation = (data & _CONTINUATION_MASK) == _CONTINUATION
    between = np.add.reduceat(continuation, np.concatenate(([0], at)), dtype=np.int64)
    return at - np.cumsum(between[:-1])


class DocumentLengths:
    """Follows documents through a file's chunks: their count and lengths in characters
    (the NUL not counted). A document may span chunks; its length is known at its NUL."""

    def __init__(self) -> None:
        self.ended = 0  # NULs seen
        self.histogram = LengthHistogram()
        self._open = 0  # characters of the document under way

    def add(self, chunk: TextChunk) -> np.ndarray:
        """The lengths of the documents whose NUL is in this chunk, in order (int64)."""
        ends = document_ends(chunk)
        if ends.size == 0:
            self._open += len(chunk.text)
            return ends
        lengths = np.diff(ends, prepend=-1) - 1
        lengths[0] += self._open
        self._open = len(chunk.text) - int(ends[-1]) - 1
        self.ended += ends.size
        self.histogram.add(lengths)
        return lengths

    def finish(self) -> np.ndarray:
        """At the end of the file: the length of a last document without its NUL, if any
        (a plain text file is one such document)."""
        if self._open == 0:
            return np.zeros(0, dtype=np.int64)
        last = np.array([self._open], dtype=np.int64)
        self.histogram.add(last)
        return last

    @property
    def unterminated(self) -> bool:
        """Whether text follows the last NUL (or the file has none): a last document that
        prepare ends with an end-of-text token of its own when the file has other NULs."""
        return self._open > 0

    @property
    def count(self) -> int:
        """Documents so far: each NUL ends one, and text after the last NUL is one more."""
        return self.ended + (1 if self._open > 0 else 0)


class LengthHistogram:
    """Document lengths by power-of-two buckets: 1, 2-3, 4-7, 8-15, ..."""

    def __init__(self) -> None:
        self._counts = np.zeros(_BUCKETS, dtype=np.int64)

    def add(self, lengths: np.ndarray) -> None:
        if lengths.size:
            # frexp gives length = m * 2**e with 0.5 <= m < 1, so floor(log2(length)) = e - 1,
            # exactly (no rounding near powers of two, unlike log2)
            _, exponents = np.frexp(lengths.astype(np.float64))
            self._counts += np.bincount(exponents - 1, minlength=_BUCKETS)[:_BUCKETS]

    def buckets(self) -> list[dict[str, Any]]:
        """[{"min": 2**k, "max": 2**(k+1) - 1, "count": n}, ...] from the smallest to the
        largest non-empty bucket, empty buckets between them kept (a plot's x axis)."""
        used = np.flatnonzero(self._counts)
        if used.size == 0:
            return []
        return [
            {"min": 1 << k, "max": (1 << (k + 1)) - 1, "count": int(self._counts[k])}
            for k in range(int(used[0]), int(used[-1]) + 1)
        ]
