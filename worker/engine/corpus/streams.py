"""Byte streams the readers share: a stream whose first bytes were looked at, and the
decompressors for single compressed streams (gzip, bzip2, xz, zstd).

Every reader takes a plain, forward-only binary stream: archive members and decompressed
data cannot seek, so no reader may rely on it (Parquet and Arrow files, which must, are
given a real file: see columnar.py).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
from collections.abc import Callable
from typing import BinaryIO, Protocol

import zstandard

# How much of a stream is looked at to tell its format (and kept to be read again).
HEAD_BYTES = 64 << 10
# Reads from a decompressor or a file, in bytes: large enough that Python's per-call cost
# is nothing next to the work, small enough to keep memory flat.
BLOCK_BYTES = 1 << 20
# An xz stream states how much memory it needs to decompress (its dictionary); xz -9 needs
# 65 MiB. One that asks for more is refused instead of being allowed to take it.
XZ_MEMORY_LIMIT = 128 << 20
COMPRESSED_FORMATS = ("gz", "bz2", "xz", "zst")


class Rewound(io.RawIOBase):
    """`head` (bytes already read from `rest`) followed by the rest of the stream."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            count = min(len(buffer), len(self._head))
            buffer[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        return self._rest.readinto(buffer) or 0  # type: ignore[attr-defined]


class ForwardFile(io.RawIOBase):
    """A forward-only stream that tarfile can read in its seeking mode ("r:"): read(n)
    returns n bytes unless the stream ends, tell() counts, and seek() moves forward by
    reading. tarfile's own stream mode ("r|") copies its whole buffer on every small read
    (each 512-byte header), which made a .tar.gz of small files crawl."""

    def __init__(self, raw: BinaryIO) -> None:
        self._reader = io.BufferedReader(raw, BLOCK_BYTES)  # type: ignore[arg-type]
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        data = self._reader.read(size)
        self._position += len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        count = self._reader.readinto(buffer)
        self._position += count
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._position
        elif whence != io.SEEK_SET:
            raise io.UnsupportedOperation("a stream cannot seek from its end")
        if offset < self._position:
            raise io.UnsupportedOperation("a stream cannot seek backwards")
        while self._position < offset:
            if not self.read(min(offset - self._position, BLOCK_BYTES)):
                break
        return self._position


def read_head(stream: BinaryIO, size: int = HEAD_BYTES) -> tuple[bytes, bool]:
    """The stream's first `size` bytes (fewer if it ends first), and whether it ended."""
    pieces: list[bytes] = []
    got = 0
    while got < size:
        piece = stream.read(size - got)
        if not piece:
            return b"".join(pieces), True
        pieces.append(piece)
        got += len(piece)
    return b"".join(pieces), False


class _Decompressor(Protocol):
    eof: bool
    needs_input: bool
    unused_data: bytes

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


class _Decompressing(io.RawIOBase):
    """Reads a stream through bz2/lzma-style decompressors, one after another for
    concatenated streams (as `cat a.xz b.xz` makes). Output per read is bounded, so a
    small input that expands hugely never sits in memory at once."""

    def __init__(self, raw: BinaryIO, make: Callable[[], _Decompressor]) -> None:
        self._raw = raw
        self._make = make
        self._decompressor = make()
        self._pending = b""  # compressed bytes read but not yet given to the decompressor
        self._started = False  # the current decompressor has been given data

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while True:
            if self._decompressor.eof:
                rest = self._decompressor.unused_data or self._raw.read(BLOCK_BYTES)
                if not rest:
                    return 0
                self._decompressor, self._pending, self._started = self._make(), rest, False
            if self._decompressor.needs_input or not self._started:
                data = self._pending or self._raw.read(BLOCK_BYTES)
                self._pending = b""
                if not data:
                    raise EOFError("the data ends before the end of the compressed stream")
                self._started = True
            else:
                data = b""
            out = self._decompressor.decompress(data, len(buffer))
            if out:
                buffer[: len(out)] = out
                return len(out)


def decompressing(format: str, raw: BinaryIO) -> BinaryIO:
    """The decompressed content of `raw`, a stream in a COMPRESSED_FORMATS format."""
    if format == "gz":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if format == "bz2":
        return _Decompressing(raw, bz2.BZ2Decompressor)  # type: ignore[return-value]
    if format == "xz":
        return _Decompressing(  # type: ignore[return-value]
            raw, lambda: lzma.LZMADecompressor(memlimit=XZ_MEMORY_LIMIT)
        )
    if format == "zst":
        # zstandard keeps the window it decompresses with to its default limit (128 MiB)
        return zstandard.ZstdDecompressor().stream_reader(  # type: ignore[return-value]
            raw, read_size=BLOCK_BYTES, read_across_frames=True
        )
    raise ValueError(f"not a compressed format: {format}")
