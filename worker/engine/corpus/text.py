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

from worker.engine.corpus.context import Entry, SourceContext
from worker.engine.corpus.detect import BOM, at_place
from worker.engine.corpus.writer import CorpusWriter, Outcome

_decode = codecs.utf_8_decode


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
        data: bytes | memoryview = view[start:end]
        if pending:
            data = pending + data
        try:
            text, used = _decode(data, "strict", False)
        except UnicodeDecodeError as exc:
            bad = offset + start - len(pending) + exc.start  # file offset of the bad byte
            line = _line(writer, buffer, bad - offset)
            return (
                f"not UTF-8 text: invalid byte 0x{exc.object[exc.start]:02x} at "
                f"{at_place(bad, line)}"
            )
        if nul >= 0:
            return f"binary: a NUL byte at {at_place(offset + nul, _line(writer, buffer, nul))}"
        writer.add(data[:used], text)
        pending = bytes(data[used:])
        offset += count
    if pending:
        line = _line(writer, buffer, 0)
        return (
            f"not UTF-8 text: invalid byte 0x{pending[0]:02x} at "
            f"{at_place(offset - len(pending), line)} (the file ends inside a character)"
        )
    return ""


def _line(writer: CorpusWriter, buffer: bytearray, before: int) -> int:
    """The line of a bad byte `before` bytes into the current block: the newlines already
    written of this document, and those of the block before it. Counted only on failure,
    so reading a good file costs no pass over its newlines."""
    return writer.count_in_document(b"\n") + buffer.count(b"\n", 0, max(before, 0)) + 1
