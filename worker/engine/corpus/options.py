"""What build_corpus is given: the inputs, and the options and limits it reads them with."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

MiB = 1 << 20
GiB = 1 << 30


@dataclass(frozen=True)
class ArchiveLimits:
    """What an input may expand to before it is refused as an archive bomb.

    Compressed streams and archive members are counted as they are read (bytes produced
    against compressed bytes consumed), so a lying header cannot hide an expansion; a zip's
    central directory is also checked before anything is decompressed.
    """

    max_members: int = 100_000  # members in one archive (files in one directory)
    max_member_bytes: int = 16 * GiB  # uncompressed bytes of one member
    max_total_bytes: int = 256 * GiB  # uncompressed bytes of all inputs together
    max_ratio: float = 200.0  # uncompressed / compressed, per stream or member
    # The ratio is only judged once a stream has produced this much. Natural text
    # compresses 3-10x, but a small repetitive file (a log, a CSV of repeated rows, one
    # paragraph pasted many times) can shrink 1000x under xz or zstd and is no bomb;
    # below 64 MiB the worst a bomb can do is produce 64 MiB, which the totals bound.
    ratio_floor_bytes: int = 64 * MiB
    # One JSON line, JSON array item or CSV field is held in memory whole (it is parsed
    # whole): one longer than this is refused (JSON: once it runs past a read block),
    # since a document that long belongs in a text file, which streams.
    max_record_bytes: int = 256 * MiB


@dataclass(frozen=True)
class CorpusOptions:
    text_field: str | None = None  # JSON/CSV/Parquet/Arrow: the field/column holding the text
    dedup: bool = False  # drop exact duplicate documents (they are always counted)
    on_bad_record: Literal["error", "skip"] = "error"
    limits: ArchiveLimits = field(default_factory=ArchiveLimits)
    max_output_bytes: int | None = None  # OutputLimitReached once the corpus would exceed it


@dataclass(frozen=True)
class SourceInput:
    """One source: an uploaded file or a server-side path (a file or a directory)."""

    path: Path  # where the bytes are; a directory is walked recursively
    name: str  # display name: the uploaded file name (may be "docs/a.md"), or the path given
