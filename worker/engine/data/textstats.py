"""What a corpus file holds (size, documents, characters, lines, vocabulary), counted in one
streaming pass.

A NUL ends a document (textscan.py); it is a boundary, not text: characters, lines, the
vocabulary and the preview leave it out. A file with NULs is a corpus of several documents,
which prepare encodes with an end-of-text token after each, and gpt2_tokens counts those.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from worker.engine.data.documents import DocumentLengths
from worker.engine.data.textscan import CHUNK_BYTES, TextChunk, file_size, iter_text_chunks
from worker.engine.errors import DataError
from worker.engine.tokenizers.base import DOCUMENT_END, END_OF_TEXT
from worker.engine.tokenizers.char import code_points
from worker.engine.tokenizers.gpt2 import GPT2Tokenizer

Progress = Callable[[int, int], None]
_CODE_POINTS = 0x110000
_ASCII = bytes(range(0x80))
_NOT_ASCII = bytes(range(0x80, 0x100))
# Bytes looked at per round when learning a chunk's new ASCII characters.
_SAMPLE = 4096
_NEWLINE = ord("\n")
# The preview: at most this many documents (and preview_chars characters in all).
PREVIEW_DOCUMENTS = 20


@dataclass(frozen=True)
class TextStats:
    """What the dataset page shows right after an upload."""

    bytes: int  # the file's size, a byte-order mark included
    characters: int  # after the byte-order mark, NULs (document ends) not counted
    lines: int  # per document: newlines, plus one for a last line without a newline
    preview: str  # preview_documents joined by "<|endoftext|>" (for clients before documents)
    vocab: list[str]  # distinct characters, sorted by code point (the text's: no NUL)
    vocab_size: int
    gpt2_tokens: int  # what prepare with gpt2 gives: an end-of-text token per document if > 1
    sha256: str  # of the file's bytes as uploaded
    documents: int  # NULs, plus one for text after the last (a plain text file: 1)
    # [{"min": 2**k, "max": 2**(k+1) - 1, "count": n}, ...]: documents by length in
    # characters, from the smallest to the largest non-empty bucket, empty ones between kept
    doc_lengths: list[dict[str, int]]
    # the first documents, at most PREVIEW_DOCUMENTS and preview_chars characters in all
    # (the last one cut there)
    preview_documents: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TextTally:
    """Counts characters, lines and document ends (and, if asked, distinct characters)
    chunk by chunk."""

    def __init__(self, *, collect_vocab: bool = False, preview_chars: int = 0) -> None:
        self.characters = 0  # NULs not counted
        self.nuls = 0
        self.newlines = 0
        # documents ended by a NUL whose last line has no newline (each is a line more)
        self._open_lines = 0
        self._last = b"\0"  # the last byte so far (a NUL before the start: no line open)
        self.only_whitespace = True
        self._seen = _SeenCharacters() if collect_vocab else None
        # raw text, NULs included, enough for preview_chars characters of PREVIEW_DOCUMENTS
        self._preview_chars = preview_chars
        self._preview_room = preview_chars + PREVIEW_DOCUMENTS if preview_chars else 0
        self._preview: list[str] = []

    def add(self, chunk: TextChunk) -> None:
        text, data = chunk.text, chunk.data
        nuls = 0
        if data.find(b"\0") >= 0:  # memchr: the usual case (a plain text) costs nothing
            raw = np.frombuffer(data, dtype=np.uint8)
            at = np.flatnonzero(raw == 0)
            nuls = int(at.size)
            # a NUL after a newline ends a document whose last line was counted already
            after_newline = int((raw[at[at > 0] - 1] == _NEWLINE).sum())
            after_newline += int(at[0] == 0 and self._last == b"\n")
            self._open_lines += nuls - after_newline
            del raw  # no view of data left behind
        self.nuls += nuls
        self.characters += len(text) - nuls
        self.newlines += data.count(b"\n")
        self._last = bytes(data[-1:])
        if (
            self.only_whitespace
            and not (text.replace(DOCUMENT_END, " ") if nuls else text).isspace()
        ):
            self.only_whitespace = False
        if self._seen is not None:
            self._seen.add(chunk)
        if self._preview_room > 0:
            piece = text[: self._preview_room]
            self._preview.append(piece)
            self._preview_room -= len(piece)

    @property
    def lines(self) -> int:
        """Each document's newlines, plus one for its last line if no newline ends it."""
        last_open = self._last not in (b"\n", b"\0")  # text after the last newline and NUL
        return self.newlines + self._open_lines + (1 if last_open else 0)

    @property
    def preview_documents(self) -> list[str]:
        """The first documents, at most PREVIEW_DOCUMENTS and preview_chars in all."""
        documents: list[str] = []
        room = self._preview_chars
        for document in "".join(self._preview).split(DOCUMENT_END)[:PREVIEW_DOCUMENTS]:
            if room <= 0 or not document:  # "" after a NUL that ends the text
                break
            documents.append(document[:room])
            room -= len(documents[-1])
        return documents

    @property
    def vocab(self) -> list[str]:
        """Distinct characters by code point; NUL among them (first) if the file has one."""
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
        data = chunk.data
        if not chunk.text.isascii():
            # The UTF-8 bytes of the other characters never are ASCII: deleting every ASCII
            # byte leaves exactly them, usually a small part of the text
            others = data.translate(None, _ASCII).decode("utf-8")
            self._seen[code_points(others)] = True
            data = data.translate(None, _NOT_ASCII)
        # Delete the known characters in one bytes.translate pass; what is left (usually
        # nothing after the first chunk) holds the new ones. Each round learns at least one.
        unseen = data.translate(None, self._ascii)
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
    """Validates and describes a corpus file in one streaming pass (DataError if unusable).

    The GPT-2 token count is exact: what prepare with gpt2 writes in all (an end-of-text
    token after each document when the file has NULs).
    """
    total = file_size(input_path)
    tally = TextTally(collect_vocab=True, preview_chars=preview_chars)
    documents = DocumentLengths()
    gpt2 = GPT2Tokenizer()
    gpt2_tokens = 0
    sha256 = hashlib.sha256()
    for chunk in iter_text_chunks(input_path, chunk_bytes=chunk_bytes, hasher=sha256):
        tally.add(chunk)
        documents.add(chunk)
        gpt2_tokens += gpt2.encode_bulk(chunk.text).size
        if progress is not None:
            progress(chunk.end, total)
        del chunk  # freed before the next chunk is read: flat memory
    tally.check_usable()
    documents.finish()
    if tally.nuls and documents.unterminated:
        gpt2_tokens += 1  # prepare ends the last document too
    if progress is not None:
        progress(total, total)
    vocab = [c for c in tally.vocab if c != DOCUMENT_END]
    preview = tally.preview_documents
    return TextStats(
        bytes=total,
        characters=tally.characters,
        lines=tally.lines,
        preview=END_OF_TEXT.join(preview),
        vocab=vocab,
        vocab_size=len(vocab),
        gpt2_tokens=gpt2_tokens,
        sha256=sha256.hexdigest(),
        documents=documents.count,
        doc_lengths=documents.histogram.buckets(),
        preview_documents=preview,
    )
