"""A text file as one document, streamed: validated as UTF-8 block by block and written as
it is read, so a file of any size passes through a few MB of memory.

The bytes are written exactly as found (no newline normalization), after a UTF-8 BOM is
dropped. A NUL byte or invalid UTF-8 found after part of the document was written makes
the writer truncate back to where the document began: nothing of it remains. Its place
(byte offset in the file, line) is told from what was written of the document so far,
since a stream cannot be read again.
"""

from __future__ import annotations

import codecs
import re

from worker.engine.corpus.context import Entry, SourceContext
from worker.engine.corpus.detect import BOM, at_place
from worker.engine.corpus.writer import CorpusWriter, Outcome

_decode = codecs.utf_8_decode
_PIECE_BYTES = 16 << 10
# Not whitespace by str.isspace() (which for ASCII adds \x1c-\x1f to bytes' whitespace).
_NOT_SPACE = re.compile(rb"[^ \t\n\r\x0b\x0c\x1c-\x1f]")


def read_text(entry: Entry, ctx: SourceContext) -> bool:
    """Writes the entry as one document; False if it was skipped as not text."""
    writer = ctx.writer
    writer.begin()
    try:
        problem = _stream_into(entry, ctx)
    except BaseException:
        writer.abort()
        raise
    if problem:
        writer.abort()
        ctx.unusable(entry, problem)
        return False
    if writer.end() is Outcome.EMPTY:
        ctx.skip(entry.name, Outcome.EMPTY.value)
    return True


def _stream_into(entry: Entry, ctx: SourceContext) -> str:
    """Copies the stream into the open document; returns why it is not text, or ""."""
    writer = ctx.writer
    stream = entry.stream
    buffer = ctx.block
    view = memoryview(buffer)
    offset = 0  # file offset of buffer[0]
    pending = b""  # the start of a character cut by the end of the previous block
    blank = True  # only whitespace so far
    first = True
    while True:
        count = stream.readinto(view)  # type: ignore[attr-defined]
        if not count:
            break
        start = 0
        if first:
            first = False
            if bytes(view[:3]) == BOM:
                start = 3
        nul = buffer.find(b"\0", start, count)
        end = count if nul < 0 else nul
        completed = b""  # the end of a character the block before cut, now complete
        if not pending and buffer.isascii():  # the whole buffer: stale bytes can only say no
            done, characters = end, end - start
            if blank:
                blank = _NOT_SPACE.search(view, start, end) is None
        else:
            try:
                done, characters, blank, completed, pending = _validate(
                    view, start, end, pending, blank
                )
            except UnicodeDecodeError as exc:
                bad = offset + exc.start  # exc.start: moved to the block's offsets
                line = _line(writer, buffer, bad - offset)
                return f"not UTF-8 text: invalid byte 0x{exc.reason} at {at_place(bad, line)}"
        if nul >= 0:
            return f"binary: a NUL byte at {at_place(offset + nul, _line(writer, buffer, nul))}"
        writer.add(completed, 0, blank)
        writer.add(view[start:done], characters, blank)
        offset += count
    if pending:
        line = _line(writer, buffer, 0)
        return (
            f"not UTF-8 text: invalid byte 0x{pending[0]:02x} at "
            f"{at_place(offset - len(pending), line)} (the file ends inside a character)"
        )
    return ""


def _validate(
    view: memoryview, start: int, end: int, pending: bytes, blank: bool
) -> tuple[int, int, bool, bytes, bytes]:
    """Decodes view[start:end] (after `pending`, the cut start of a character from the
    block before) in _PIECE_BYTES pieces. Returns where the complete characters end, how
    many there are (the one `pending` began included), whether all are whitespace so far,
    `pending` if its character is now complete (to write before the block), and the bytes
    of a character the block's end cuts. Raises UnicodeDecodeError with .start an offset
    in the block (negative: in `pending`) and .reason the bad byte in hex.

    Pieces, not the whole block: a str per 1 MiB block, of sizes that vary with the text,
    left glibc's heap so fragmented that RSS grew 120 MB over a 1 GB file; 16 KiB pieces
    stay below its mmap threshold and are reused, and decode faster (they stay in cache).
    """
    characters = 0
    pos = start
    if pending:  # complete the cut character first
        data = pending + bytes(view[start : start + 4])
        try:
            text, used = _decode(data, "strict", False)
        except UnicodeDecodeError as exc:
            raise _moved(exc, start - len(pending)) from None
        if used < len(pending):  # still cut: a block of under 4 bytes
            return start, 0, blank, b"", pending + bytes(view[start:end])
        characters += len(text)
        blank = blank and text.isspace()
        pos = start + used - len(pending)
    while pos < end:
        piece = view[pos : min(pos + _PIECE_BYTES, end)]
        try:
            text, used = _decode(piece, "strict", False)
        except UnicodeDecodeError as exc:
            raise _moved(exc, pos) from None
        if not used:
            break  # a character cut by the end of the block
        characters += len(text)
        if blank and not text.isspace():
            blank = False
        pos += used
    return pos, characters, blank, pending, bytes(view[pos:end])


def _moved(exc: UnicodeDecodeError, shift: int) -> UnicodeDecodeError:
    bad = exc.object[exc.start]
    return UnicodeDecodeError("utf-8", b"", exc.start + shift, exc.start + shift, f"{bad:02x}")


def _line(writer: CorpusWriter, buffer: bytearray, before: int) -> int:
    """The line of a bad byte `before` bytes into the current block: the newlines already
    written of this document, and those of the block before it. Counted only on failure,
    so reading a good file costs no pass over its newlines."""
    return writer.count_in_document(b"\n") + buffer.count(b"\n", 0, max(before, 0)) + 1
