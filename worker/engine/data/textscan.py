"""Reads a corpus file in chunks that end at line ends, refusing what is not usable UTF-8 text.

A corpus file is UTF-8 text whose documents each end with one NUL ("\0"), except a corpus
of a single document, which has no NUL at all (so a plain text file is a corpus). A NUL is
therefore a document boundary here, not an error; a NUL that would end a document without
text (at the start, or right after another NUL) is refused: documents are never empty, and
a run of NULs is what binary files look like.

inspect_text and prepare both read through here, so a file is judged the same way by both,
and memory stays flat: a few chunks of a few MB, whatever the file's size. Chunks never split
a character, and end where GPT-2's pre-tokenizer splits anyway, so encoding chunk by chunk
gives exactly the ids of encoding the whole text.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np

from worker.engine.corpus.detect import binary_kind
from worker.engine.errors import DataError
from worker.engine.heap import release_freed_memory

BOM = b"\xef\xbb\xbf"
# Peak memory of describing or preparing is about 25× this (the encoders' per-chunk arrays
# and threads' arenas): 4 MiB keeps it near 150 MB, as fast as 8 MiB (measured).
CHUNK_BYTES = 4 << 20
# Chunks between giving freed memory back (heap.py): often enough to stay flat over
# gigabytes, rarely enough that the pages freed are not faulted in again at every chunk.
_TRIM_EVERY = 16
# A UTF-8 character is at most 4 bytes: a lead byte and up to 3 continuation bytes.
_MAX_CONTINUATION = 3
_CR = ord("\r")
_NUL = 0
# Candidate cut points tried per separator (a run of blank lines must not cost seconds).
_MAX_TRIES = 1000


class Hasher(Protocol):
    def update(self, data: bytes | bytearray, /) -> None: ...


@dataclass(frozen=True, slots=True)
class TextChunk:
    """A stretch of the file's text, valid UTF-8; a NUL in it ends a document."""

    text: str
    data: bytearray  # text as UTF-8, exactly as in the file (read it, do not change it)
    start: int  # file offset of data[0] (3 for the first chunk after a BOM)

    @property
    def end(self) -> int:
        return self.start + len(self.data)


def file_size(path: str | os.PathLike[str]) -> int:
    """The size in bytes, or a DataError naming a missing or unreadable input."""
    try:
        stat = Path(path).stat()
    except OSError as exc:
        raise DataError(f"cannot read the input file {path}: {exc.strerror}", field="file") from exc
    if not Path(path).is_file():
        raise DataError(f"the input {path} is not a regular file", field="file")
    return stat.st_size


def iter_text_chunks(
    path: str | os.PathLike[str],
    *,
    chunk_bytes: int = CHUNK_BYTES,
    cut_at: Iterable[int] = (),
    hasher: Hasher | None = None,
) -> Iterator[TextChunk]:
    """Chunks of at most chunk_bytes that end at a line end where the file has one.

    Raises DataError (field="file") for invalid UTF-8 or a NUL that ends a document without
    text, naming where it is. A UTF-8 byte-order mark is skipped. No chunk crosses a file
    offset in `cut_at` (each must fall between characters). `hasher` gets every byte of the
    file, BOM included.
    """
    cuts = sorted(cut_at)
    try:
        file = Path(path).open("rb", buffering=0)  # noqa: SIM115 (the generator closes it)
    except OSError as exc:
        raise DataError(f"cannot read the input file {path}: {exc.strerror}", field="file") from exc
    with file:
        yield from _chunks(file, chunk_bytes, cuts, hasher)


def _chunks(
    file: BinaryIO, chunk_bytes: int, cuts: list[int], hasher: Hasher | None
) -> Iterator[TextChunk]:
    # Each chunk is read into a buffer of one fixed size; what follows the cut is read again
    # with the next chunk. No concatenating or copying, and the allocator reuses the same
    # blocks chunk after chunk (varying sizes would fragment the heap, and RSS would creep).
    text_start = len(BOM) if file.read(len(BOM)) == BOM else 0
    if hasher is not None and text_start:
        hasher.update(BOM)
    offset = text_start
    chunks = 0
    after_boundary = True  # a document starts here: a NUL now would end an empty one
    while True:
        file.seek(offset)
        data = bytearray(chunk_bytes)
        size = _read_into(file, data)
        if size == 0:
            return
        cut = size if size < chunk_bytes else _last_safe_cut(data)
        cut = next((c - offset for c in cuts if offset < c < offset + cut), cut)
        del data[cut:]
        if hasher is not None:
            hasher.update(data)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _refusal(file, text_start, offset, data, exc.start, after_boundary) from None
        if _empty_document(data, after_boundary) >= 0:
            raise _refusal(file, text_start, offset, data, len(data), after_boundary)
        after_boundary = data[-1] == _NUL
        yield TextChunk(text=text, data=data, start=offset)
        del data, text  # not alive while the next chunk is read
        chunks += 1
        if chunks % _TRIM_EVERY == 0:  # what encoding chunks freed: flat memory over gigabytes
            release_freed_memory()
        offset += cut


def _read_into(file: BinaryIO, buffer: bytearray) -> int:
    """Fills buffer unless the file ends first; returns the bytes read."""
    view = memoryview(buffer)
    filled = 0
    while filled < len(buffer):
        count = file.readinto(view[filled:])
        if not count:
            break
        filled += count
    view.release()
    return filled


def _last_safe_cut(buffer: bytearray) -> int:
    """Where to end a chunk that is not the file's last, as late as possible.

    Best is just before a line break (or else a space) that follows a non-space character:
    GPT-2's pre-tokenizer never joins text across such a point, so chunks encoded one by one
    give exactly the ids of the whole text. Failing that (no such point in the second half
    of the buffer), after the last newline, or before the last character.
    """
    floor = len(buffer) // 2
    for separator in (b"\n", b" "):
        end = len(buffer)
        for _ in range(_MAX_TRIES):
            index = buffer.rfind(separator, floor, end)
            if index <= 0:
                break
            cut = index - 1 if separator == b"\n" and buffer[index - 1] == _CR else index
            if cut > 0 and _follows_non_space(buffer, cut):
                return cut
            end = index
    newline = buffer.rfind(b"\n")
    if newline >= 0:
        return newline + 1
    cut = len(buffer) - 1
    while cut > 0 and len(buffer) - cut <= _MAX_CONTINUATION and _is_continuation(buffer[cut]):
        cut -= 1
    return cut if cut > 0 else len(buffer)


def _follows_non_space(buffer: bytearray, cut: int) -> bool:
    """Whether the character that ends at buffer[cut] is not whitespace."""
    start = cut - 1
    while start > 0 and cut - start <= _MAX_CONTINUATION and _is_continuation(buffer[start]):
        start -= 1
    try:
        character = buffer[start:cut].decode("utf-8")
    except UnicodeDecodeError:
        return False
    # str.isspace() covers all of Unicode's White_Space (and more), so this errs safe
    return not character.isspace()


def _is_continuation(byte: int) -> bool:
    return 0x80 <= byte < 0xC0


def _empty_document(data: bytearray, after_boundary: bool, end: int | None = None) -> int:
    """The index of the first NUL in data[:end] that ends a document of no text, or -1."""
    if after_boundary and data[:1] == b"\0":
        return 0
    if data.find(b"\0", 0, end) < 0:  # memchr: the usual case (a plain text) costs nothing
        return -1
    # two NULs in a row; numpy, as bytes.find(b"\0\0") takes 7 ms on 8 MB of text
    count = len(data) if end is None else end
    at = np.flatnonzero(np.frombuffer(data, dtype=np.uint8, count=count) == 0)
    pairs = np.flatnonzero(np.diff(at) == 1)
    return int(at[pairs[0] + 1]) if pairs.size else -1


def _refusal(
    file: BinaryIO,
    text_start: int,
    offset: int,
    data: bytearray,
    index: int,
    after_boundary: bool,
) -> DataError:
    """The error for the first bad byte at or before data[index]: a NUL that ends a document
    without text, or invalid UTF-8 (at index, unless index is len(data)). A file that starts
    like an image, a PDF or an archive is named as such: "save it as UTF-8" is no advice for a
    PNG. The messages avoid the words "empty" and "whitespace", which mean a usable kind of
    file with nothing in it to callers that sort refusals."""
    kind = binary_kind(bytes(data[:64])) if offset == text_start else None
    if kind is not None:
        return DataError(
            f"not a text file: this is {kind}; read it into a corpus first (the studio's "
            "upload and `nanogpt-studio prepare` take archives and structured files)",
            field="file",
        )
    nul = _empty_document(data, after_boundary, min(index + 2, len(data)))
    if 0 <= nul <= index:
        place = _describe_place(file, text_start, offset + nul)
        return DataError(
            f"not a text file: NUL byte at {place} with no text before it; this looks like a "
            "binary file (in a corpus a NUL ends a document, and every document holds text)",
            field="file",
        )
    place = _describe_place(file, text_start, offset + index)
    return DataError(
        f"not UTF-8 text: invalid byte 0x{data[index]:02x} at {place}; "
        "save the file with UTF-8 encoding and try again",
        field="file",
    )


def _describe_place(file: BinaryIO, text_start: int, offset: int) -> str:
    """'byte offset 1234 (line 5, column 7)', 1-based line and column (in characters).

    Found by reading the file again up to `offset` (all valid UTF-8): only failures pay.
    """
    file.seek(text_start)
    newlines, line_start, position = 0, text_start, text_start
    while position < offset:
        block = file.read(min(CHUNK_BYTES, offset - position))
        newlines += block.count(b"\n")
        last = block.rfind(b"\n")
        if last >= 0:
            line_start = position + last + 1
        position += len(block)
    file.seek(line_start)
    utf8 = codecs.getincrementaldecoder("utf-8")()
    columns, position = 0, line_start
    while position < offset:
        block = file.read(min(CHUNK_BYTES, offset - position))
        columns += len(utf8.decode(block))
        position += len(block)
    return f"byte offset {offset} (line {newlines + 1}, column {columns + 1})"
