"""What build_corpus tells about its work: per source, what was read, written and skipped."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Skipped entries listed per source; the rest are only counted (a folder of 50,000 images
# must not make a 50,000-line report).
LISTED_SKIPS = 100


@dataclass
class Skipped:
    entry: str  # "a/b.png", "data.jsonl line 17", "rows.csv row 9"
    reason: str  # "binary: a PNG image", "symlink", "empty document", ...


@dataclass
class SourceReport:
    name: str
    format: str  # "text", "jsonl", ... for a file; "zip", "tar.gz", ..., "directory"
    bytes: int  # bytes of the source as given (a directory: the sum of its files)
    documents: int = 0  # documents written from it
    members: dict[str, int] = field(default_factory=dict)  # containers: members per format
    skipped: list[Skipped] = field(default_factory=list)  # the first LISTED_SKIPS
    skipped_count: int = 0
    text_field: str | None = None  # the field/column used ("a, b" when files differ)
    duplicates: int = 0  # documents from it that repeat an earlier one (any source's)

    def skip(self, entry: str, reason: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < LISTED_SKIPS:
            self.skipped.append(Skipped(entry, reason))

    def count_member(self, format: str) -> None:
        self.members[format] = self.members.get(format, 0) + 1

    def used_field(self, name: str | None) -> None:
        if name is None:
            return
        if self.text_field is None:
            self.text_field = name
        elif name not in self.text_field.split(", "):
            self.text_field = f"{self.text_field}, {name}"


@dataclass
class CorpusReport:
    documents: int
    duplicates: int  # exact duplicate documents seen (after the first occurrence)
    dropped_duplicates: bool  # True when options.dedup dropped them
    characters: int  # characters written, NULs excluded
    sources: list[SourceReport]
    bytes: int = 0  # size of the corpus file written

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (what the service stores)."""
        return asdict(self)
