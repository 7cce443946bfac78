"""The normalized corpus file: documents separated by NUL, written once, atomically.

The format: each document followed by one "\\0", except a corpus of exactly one document,
which is that document's text alone (so one plain-text file gives a byte-identical copy of
itself, as datasets were before corpora). Written as: document 1 bare; every later document
preceded by "\\0"; at the end, if there were two or more, one final "\\0".

A document is either handed over whole (a JSON/CSV/Parquet value: `add_text`) or streamed
(a text file of any size: `begin`, `add`, `end`/`abort`). A streamed document may turn out
to be unusable after part of it was written (a bad byte 100 MB in, only whitespace, a
duplicate), so the writer keeps its position where the document started and truncates back
to it: nothing of a dropped document remains.

Exact duplicates are found by a 16-byte hash of each document's UTF-8 bytes kept in a set:
about 80 bytes of memory per distinct document (the bytes object and its set slot: 79 MB
measured for 1 million), the one part of a build's memory that grows with the corpus.
Collisions are out of reach at 128 bits. The hash is SHA-256 cut to 16 bytes rather than
BLAKE2b: x86 and ARM CPUs of the last years compute SHA-256 in hardware, 1.7 GB/s against
BLAKE2b's 0.8 GB/s here, and hashing is a fifth of the time of a JSON Lines build.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from enum import Enum
from pathlib import Path
from types import TracebackType

from worker.engine.corpus.errors import OutputLimitReached
from worker.engine.errors import ConfigError
from worker.engine.staging import fsync_directory

SEPARATOR = b"\0"
# Small writes are gathered up to this size...
_BUFFER_BYTES = 1 << 20
# ...and a piece this large goes to the file directly: a text file's 1 MiB blocks are not
# copied, and the buffer's allocation is not grown and freed over and over (which left the
# heap fragmented: RSS crept up with the size of the input).
_DIRECT_BYTES = 64 << 10
_DIGEST_BYTES = 16


class Outcome(Enum):
    WRITTEN = "written"
    EMPTY = "empty document"  # empty or whitespace only
    DUPLICATE = "duplicate"  # seen before, and dedup is on (not written)


_sha256 = hashlib.sha256
_WRITTEN, _EMPTY, _DUPLICATE = Outcome.WRITTEN, Outcome.EMPTY, Outcome.DUPLICATE


def _to_utf8(text: str) -> bytes:
    """A lone surrogate ("\\ud800" in JSON) has no UTF-8 form: U+FFFD stands in for it, as
    for NUL, so every value that parses gives a document."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()


class CorpusWriter:
    """Writes the corpus to a hidden temporary file beside out_path; `commit` renames it
    into place. Used as a context manager, it removes the temporary file on any error."""

    def __init__(self, out_path: Path, *, dedup: bool, max_bytes: int | None) -> None:
        self.out_path = Path(out_path)
        if not self.out_path.parent.is_dir():
            raise ConfigError(
                f"cannot write the corpus: the folder {self.out_path.parent} does not exist",
                field="out_path",
            )
        self.temp_path = self.out_path.with_name(
            f".{self.out_path.name}.{secrets.token_hex(6)}.partial"
        )
        self.dedup = dedup
        self.max_bytes = max_bytes
        self.documents = 0
        self.duplicates = 0
        self.characters = 0
        self._seen: set[bytes] = set()
        # closed by commit or discard
        self._file = self.temp_path.open("xb", buffering=0)
        self._flushed = 0  # bytes in the file
        self._buffer = bytearray()
        # the document being streamed
        self._start = -1  # where it starts (its separator included), -1: none open
        self._hasher = _sha256()
        self._chars = 0
        self._blank = True

    def __enter__(self) -> CorpusWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is not None:
            self.discard()

    @property
    def position(self) -> int:
        return self._flushed + len(self._buffer)

    # --- whole documents -------------------------------------------------------------

    def add_text(self, text: str) -> Outcome:
        """One document given whole. A NUL in it becomes U+FFFD (NUL separates documents).

        The per-record hot path of JSON, CSV and Parquet: kept to a few C calls."""
        if text.isspace() or not text:
            return _EMPTY
        if "\0" in text:
            text = text.replace("\0", "\ufffd")
        try:
            data = text.encode()
        except UnicodeEncodeError:
            data = _to_utf8(text)
        digest = _sha256(data).digest()[:_DIGEST_BYTES]
        seen = self._seen
        if digest in seen:
            self.duplicates += 1
            if self.dedup:
                return _DUPLICATE
        else:
            seen.add(digest)
        buffer = self._buffer
        if self.max_bytes is not None:
            self._check_room(len(data) + (1 if self.documents else 0))
        if self.documents:
            buffer += SEPARATOR
        buffer += data
        if len(buffer) >= _BUFFER_BYTES:
            self._flush()
        self.documents += 1
        self.characters += len(text)
        return _WRITTEN

    # --- streamed documents ----------------------------------------------------------

    def begin(self) -> None:
        """Starts a streamed document; `add` its pieces, then `end` or `abort` it."""
        assert self._start < 0, "a streamed document is already open"
        self._start = self.position
        self._hasher = _sha256()
        self._chars = 0
        self._blank = True
        if self.documents:
            self._check_room(1)
            self._buffer += SEPARATOR

    def add(self, data: bytes | bytearray | memoryview, characters: int, blank: bool) -> None:
        """A piece of the open document: valid UTF-8 without NUL, how many characters it
        holds, and whether they are all whitespace."""
        if not data:
            return
        self._check_room(len(data))
        self._put(data)
        self._hasher.update(data)
        self._chars += characters
        if not blank:
            self._blank = False

    def count_in_document(self, byte: bytes) -> int:
        """How often `byte` occurs in the open document so far (read back from the file:
        only a failure pays for it, not every block)."""
        start = self._start + (1 if self.documents else 0)  # after the separator
        count = 0
        if start < self._flushed:
            with self.temp_path.open("rb") as file:
                file.seek(start)
                left = self._flushed - start
                while left > 0:
                    block = file.read(min(left, _BUFFER_BYTES))
                    if not block:
                        break
                    count += block.count(byte)
                    left -= len(block)
        return count + self._buffer.count(byte, max(start - self._flushed, 0))

    def end(self) -> Outcome:
        """Closes the open document: kept, or truncated away if blank or a dropped repeat."""
        if self._blank:
            self.abort()
            return Outcome.EMPTY
        digest = self._hasher.digest()[:_DIGEST_BYTES]
        if digest in self._seen:
            self.duplicates += 1
            if self.dedup:
                self.abort()
                return Outcome.DUPLICATE
        else:
            self._seen.add(digest)
        self._start = -1
        self.documents += 1
        self.characters += self._chars
        return Outcome.WRITTEN

    def abort(self) -> None:
        """Drops the open document: the file goes back to where it started."""
        if self._start < 0:
            return
        start, self._start = self._start, -1
        if start >= self._flushed:
            del self._buffer[start - self._flushed :]
            return
        self._buffer.clear()
        self._file.truncate(start)
        self._file.seek(start)
        self._flushed = start

    # --- the file --------------------------------------------------------------------

    def commit(self) -> int:
        """Ends the corpus, makes it durable and renames it to out_path; returns its size."""
        assert self._start < 0, "a streamed document is still open"
        if self.documents >= 2:
            self._check_room(1)
            self._buffer += SEPARATOR
        self._flush()
        size = self._flushed
        os.fsync(self._file.fileno())
        self._file.close()
        self.temp_path.replace(self.out_path)
        fsync_directory(self.out_path.parent)
        return size

    def discard(self) -> None:
        """Closes and removes the temporary file (after an error)."""
        with contextlib.suppress(OSError):
            self._file.close()
        self.temp_path.unlink(missing_ok=True)

    def _check_room(self, more: int) -> None:
        if self.max_bytes is not None and self.position + more > self.max_bytes:
            raise OutputLimitReached(self.max_bytes)

    def _put(self, data: bytes | bytearray | memoryview) -> None:
        if len(data) >= _DIRECT_BYTES:
            self._flush()
            self._write_all(data)
            return
        self._buffer += data
        if len(self._buffer) >= _BUFFER_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            self._write_all(self._buffer)
            self._buffer.clear()

    def _write_all(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        while view:
            written = self._file.write(view)
            view = view[written:]
            self._flushed += written
