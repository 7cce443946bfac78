"""What every reader is handed: the entry it reads, and the source it belongs to.

An entry is one plain file or stream (a source's own file, a directory's file, an archive's
member); the SourceContext carries the corpus writer, the options, the build's budget and
the source's report, and knows how to name things in messages.

Unusable content is an error for a source's own file and a skipped entry for a file inside
a directory or an archive (a folder of text with one stray PNG should not fail the build).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from worker.engine.corpus.detect import refusal
from worker.engine.corpus.guard import Budget, CountingFile
from worker.engine.corpus.options import CorpusOptions
from worker.engine.corpus.report import SourceReport
from worker.engine.corpus.streams import BLOCK_BYTES
from worker.engine.corpus.writer import CorpusWriter, Outcome
from worker.engine.errors import DataError


@dataclass
class Entry:
    name: str  # relative to its source ("sub/a.txt"); the source's name for its own file
    stream: BinaryIO  # forward-only, from the first byte
    head: bytes  # the first bytes (also still to be read from `stream`)
    at_eof: bool  # `head` is all there is
    own: bool  # the source's own file (not a member): unusable content is an error
    path: Path | None = None  # a real file behind the stream (random access), if any
    file: CountingFile | None = None  # that file, opened and counted (seekable)


class SourceContext:
    def __init__(
        self,
        name: str,
        report: SourceReport,
        writer: CorpusWriter,
        options: CorpusOptions,
        budget: Budget,
        temp_dir: Path,
    ) -> None:
        self.name = name
        self.report = report
        self.writer = writer
        self.options = options
        self.limits = options.limits
        self.budget = budget
        self.temp_dir = temp_dir  # for Parquet/Arrow members copied out of an archive
        self._block: bytearray | None = None

    @property
    def block(self) -> bytearray:
        """A BLOCK_BYTES buffer readers may fill (one per source: a new 1 MiB buffer for
        each of 10,000 small files would cost more than reading them)."""
        if self._block is None:
            self._block = bytearray(BLOCK_BYTES)
        return self._block

    def label(self, entry: Entry | str) -> str:
        """How messages name an entry: "notes.txt", or "corpus.zip: sub/a.txt"."""
        name = entry.name if isinstance(entry, Entry) else entry
        return name if name == self.name else f"{self.name}: {name}"

    def skip(self, entry: str, reason: str) -> None:
        self.report.skip(entry, reason)

    def unusable(self, entry: Entry, reason: str) -> None:
        """Binary or undecodable content: an error for a source's own file, else skipped."""
        if entry.own:
            raise refusal(reason, self.label(entry))
        self.skip(entry.name, reason)

    def bad_record(self, entry: Entry, where: str, reason: str) -> None:
        """A record that gives no document: an error or a skip, as options say."""
        if self.options.on_bad_record == "error":
            raise DataError(f"{self.label(entry)} {where}: {reason}", field="file")
        self.skip(f"{entry.name} {where}", reason)

    def empty(self, entry: Entry, where: str) -> None:
        self.skip(f"{entry.name} {where}", Outcome.EMPTY.value)
