"""Counting what the inputs are read from and what they expand to, and refusing bombs.

Two counts run through a build:
- consumed: bytes read from the inputs as they are on disk (the progress bar's measure);
- produced: uncompressed bytes (what max_total_bytes bounds, and what a ratio compares).
A plain file's bytes count as both; a compressed stream's or an archive member's are
counted as produced by GuardedStream, which also holds each stream to max_member_bytes and
max_ratio. Refusals are DataErrors that say which limit, and why we stop.
"""

from __future__ import annotations

import io
import lzma
import os
import zlib
from collections.abc import Callable
from typing import BinaryIO

from worker.engine.corpus.options import ArchiveLimits
from worker.engine.errors import DataError

Progress = Callable[[int, int], None]  # (bytes of input consumed, total input bytes)

# Progress is reported at most once per this many bytes (and at the end).
_REPORT_EVERY = 4 << 20
_BOMB = "this looks like an archive bomb"


def describe_size(size: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


class Budget:
    """The build's totals: input consumed (reported to `progress`) and bytes produced."""

    def __init__(self, limits: ArchiveLimits, total: int, progress: Progress | None) -> None:
        self.limits = limits
        self.total = total
        self.produced = 0
        self._progress = progress
        self._done = 0  # consumed: bytes of the input files finished
        self._file_size = 0  # the file being read: its size, and what was read of it
        self._file_read = 0
        self._reported = 0

    def start_file(self, size: int) -> None:
        self._done += self._file_size
        self._file_size, self._file_read = size, 0

    def consume(self, count: int) -> None:
        self._file_read += count
        if self._progress is not None and self._file_read - self._reported >= _REPORT_EVERY:
            self._reported = self._file_read
            self._progress(self._done + min(self._file_read, self._file_size), self.total)

    def produce(self, count: int, label: str) -> None:
        self.produced += count
        if self.produced > self.limits.max_total_bytes:
            raise DataError(
                f"{label}: the inputs expand to more than "
                f"{describe_size(self.limits.max_total_bytes)} in all (the limit for one "
                f"corpus); {_BOMB}",
                field="file",
            )

    def finish(self) -> None:
        self.start_file(0)
        if self._progress is not None:
            self._progress(self.total, self.total)


class CountingFile(io.RawIOBase):
    """A file opened for reading whose reads are counted as consumed (and, for a plain
    file, as produced). Seekable when the file is, for zipfile."""

    def __init__(self, file: BinaryIO, budget: Budget, label: str, *, produced: bool) -> None:
        self._file = file
        self._budget = budget
        self._label = label
        self.produced = produced  # set to False once the file is known to be compressed
        self.count = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._file.seekable()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def size(self) -> int:
        return os.fstat(self._file.fileno()).st_size

    def close(self) -> None:
        self._file.close()
        super().close()

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        count = self._file.readinto(buffer)  # type: ignore[attr-defined]
        if count:
            self.count += count
            self._budget.consume(count)
            if self.produced:
                self._budget.produce(count, self._label)
        return count or 0


# What decompressors raise for damaged data.
DAMAGED: tuple[type[Exception], ...] = (EOFError, OSError, zlib.error, lzma.LZMAError)


class GuardedStream(io.RawIOBase):
    """A decompressed stream (or an archive member), counted and held to the limits.

    `compressed` gives the compressed bytes consumed so far for this stream (None where
    the bytes are not compressed here, as for a tar member inside a .tar.gz, whose stream
    is guarded as a whole).
    """

    def __init__(
        self,
        inner: BinaryIO,
        label: str,
        budget: Budget,
        *,
        compressed: Callable[[], int] | None,
        damaged: tuple[type[Exception], ...] = DAMAGED,
    ) -> None:
        self._inner = inner
        self._label = label
        self._budget = budget
        self._limits = budget.limits
        self._compressed = compressed
        self._damaged = damaged
        self.produced = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            count = self._inner.readinto(buffer)  # type: ignore[attr-defined]
        except self._damaged as exc:
            raise DataError(
                f"{self._label}: the compressed data is damaged ({exc})", field="file"
            ) from exc
        if not count:
            return 0
        self.produced += count
        self._budget.produce(count, self._label)
        self._check()
        return count

    def _check(self) -> None:
        limits = self._limits
        if self.produced > limits.max_member_bytes:
            raise DataError(
                f"{self._label} expands to more than {describe_size(limits.max_member_bytes)} "
                f"(the limit for one member); {_BOMB}",
                field="file",
            )
        if self._compressed is None or self.produced <= limits.ratio_floor_bytes:
            return
        compressed = max(self._compressed(), 1)
        if self.produced > limits.max_ratio * compressed:
            raise DataError(
                f"{self._label} expands more than {limits.max_ratio:g} times its compressed "
                f"size ({describe_size(self.produced)} from {describe_size(compressed)}, the "
                f"limit is {limits.max_ratio:g}x); {_BOMB}",
                field="file",
            )


def check_declared(
    label: str,
    size: int,
    compressed: int | None,
    limits: ArchiveLimits,
    budget: Budget,
    *,
    member: bool = True,
) -> None:
    """Refuses a member (or, member=False, a whole archive) by the sizes its archive
    declares, before reading a byte of it."""
    if member and size > limits.max_member_bytes:
        raise DataError(
            f"{label} is {describe_size(size)} uncompressed, more than "
            f"{describe_size(limits.max_member_bytes)} (the limit for one member); {_BOMB}",
            field="file",
        )
    if budget.produced + size > limits.max_total_bytes:
        raise DataError(
            f"{label}: the inputs expand to more than "
            f"{describe_size(limits.max_total_bytes)} in all (the limit for one corpus); "
            f"{_BOMB}",
            field="file",
        )
    if compressed is None or size <= limits.ratio_floor_bytes:
        return
    if size > limits.max_ratio * max(compressed, 1):
        raise DataError(
            f"{label} expands more than {limits.max_ratio:g} times its compressed size "
            f"({describe_size(size)} from {describe_size(compressed)}, the limit is "
            f"{limits.max_ratio:g}x); {_BOMB}",
            field="file",
        )


def too_many_members(label: str, limits: ArchiveLimits, *, folder: bool = False) -> DataError:
    if folder:
        return DataError(
            f"{label} holds more than {limits.max_members} files (the limit for one folder)",
            field="file",
        )
    return DataError(
        f"{label} holds more than {limits.max_members} members (the limit for one archive); "
        f"{_BOMB}",
        field="file",
    )
