"""What a text file holds (size, characters, lines, vocabulary), counted in one streaming pass."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from worker.engine.char_tokenizer import code_points
from worker.engine.errors import DataError
from worker.engine.gpt2_tokenizer import GPT2Tokenizer
from worker.engine.textscan import CHUNK_BYTES, TextChunk, file_size, iter_text_chunks

Progress = Callable[[int, int], None]
_CODE_POINTS = 0x110000
# Bytes looked at per round when learning a chunk's new ASCII characters.
_SAMPLE = 4096


@dataclass(frozen=True)
class TextStats:
    """What the dataset page shows right after an upload."""

    bytes: int  # the file's size, a byte-order mark included
    characters: int  # after the byte-order mark
    lines: int  # newlines, plus one for a last line without a newline
    preview: str  # the first characters
    vocab: list[str]  # distinct characters, sorted by code point
    vocab_size: int
    gpt2_tokens: int
    sha256: str  # of the file's bytes as uploaded

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TextTally:
    """Counts characters and lines (and, if asked, distinct characters) chunk by chunk."""

    def __init__(self, *, collect_vocab: bool = False, preview_chars: int = 0) -> None:
        self.characters = 0
        self.newlines = 0
        self.ends_with_newline = False
        self.only_whitespace = True
        self._seen = _SeenCharacters() if collect_vocab else None
        self._preview_chars = preview_chars
        self._preview: list[str] = []
        self._preview_len = 0

    def add(self, chunk: TextChunk) -> None:
        text = chunk.text
        self.characters += len(text)
        self.newlines += chunk.data.count(b"\n")
        self.ends_with_newline = text.endswith("\n")
        if self.only_whitespace and not text.isspace():
            self.only_whitespace = False
        if self._seen is not None:
            self._seen.add(chunk)
        if self._preview_len < self._preview_chars:
            piece = text[: self._preview_chars - self._preview_len]
            self._preview.append(piece)
            self._preview_len += len(piece)

    @property
    def lines(self) -> int:
        if self.characters == 0:
            return 0
        return self.newlines + (0 if self.ends_with_newline else 1)

    @property
    def preview(self) -> str:
        return "".join(self._preview)

    @property
    def vocab(self) -> list[str]:
        if self._seen is None:
            raise RuntimeError("this tally was made without collect_vocab")
        return self._seen.sorted()

    def check_usable(self) -> None:
        """DataError for a file with nothing to learn from: empty or only whitespace."""
        if self.characters == 0:
            raise DataError("the file is empty", field="file")
        if self.only_whitespace:
            raise DataError(
                f"the file holds only whitespace ({self.characters} characters)", field="file"
            )


class _SeenCharacters:
    """The distinct characters met so far, by code point."""

    def __init__(self) -> None:
        self._seen = np.zeros(_CODE_POINTS, dtype=bool)
        self._ascii = b""  # kept apart: ASCII chunks have a faster way, below

    def add(self, chunk: TextChunk) -> None:
        if not chunk.text.isascii():
            self._seen[code_points(chunk.text)] = True
            return
        # Delete the known characters in one bytes.translate pass; what is left (usually
        # nothing after the first chunk) holds the new ones. Each round learns at least one.
        unseen = chunk.data.translate(None, self._ascii)
        while unseen:
            self._ascii += bytes(set(unseen[:_SAMPLE]))
            unseen = unseen.translate(None, self._ascii)

    def sorted(self) -> list[str]:
        self._seen[np.frombuffer(self._ascii, dtype=np.uint8)] = True
        return [chr(p) for p in np.flatnonzero(self._seen)]


def inspect_text(
    input_path: str | os.PathLike[str],
    *,
    preview_chars: int = 1000,
    progress: Progress | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> TextStats:
    """Validates and describes a text file in one streaming pass (DataError if unusable).

    The GPT-2 token count is exact: the same as encoding the whole text at once.
    """
    total = file_size(input_path)
    tally = TextTally(collect_vocab=True, preview_chars=preview_chars)
    gpt2 = GPT2Tokenizer()
    gpt2_tokens = 0
    sha256 = hashlib.sha256()
    for chunk in iter_text_chunks(input_path, chunk_bytes=chunk_bytes, hasher=sha256):
        tally.add(chunk)
        gpt2_tokens += gpt2.encode_bulk(chunk.text).size
        if progress is not None:
            progress(chunk.end, total)
        del chunk  # freed before the next chunk is read: flat memory
    tally.check_usable()
    if progress is not None:
        progress(total, total)
    vocab = tally.vocab
    return TextStats(
        bytes=total,
        characters=tally.characters,
        lines=tally.lines,
        preview=tally.preview,
        vocab=vocab,
        vocab_size=len(vocab),
        gpt2_tokens=gpt2_tokens,
        sha256=sha256.hexdigest(),
    )
