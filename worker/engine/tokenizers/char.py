"""Character-level tokenizer: one id per distinct character of the training text.

In a corpus of several documents the document boundary "\0" is one of those characters
(the first by code point, so id 0) and is the end-of-text token: it decodes to
"<|endoftext|>", and "<|endoftext|>" in a prompt encodes to it, as with GPT-2. A literal
"\0" in a prompt is the same character, so it encodes to the same id (the only one it could
be); a vocabulary without it (one document) refuses it as an unknown character.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from worker.engine.errors import DataError
from worker.engine.tokenizers.base import DOCUMENT_END, END_OF_TEXT, check_ids

# In a byte table (small vocabularies), the id that marks characters outside the vocabulary.
_BYTE_UNKNOWN = 255
# Unknown characters named in one error message; more are counted, not listed.
_MAX_NAMED = 20


def code_points(text: str) -> np.ndarray:
    """The code point of every character of `text` as an array, without a Python loop."""
    if text.isascii():  # O(1) in CPython; ASCII bytes are the code points
        return np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    # Without characters past U+FFFF (most text), UTF-16's units are the code points: half
    # the bytes of UTF-32 to write and index
    narrow = text.encode("utf-16-le")
    if len(narrow) == 2 * len(text):
        return np.frombuffer(narrow, dtype=np.uint16)
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def unknown_characters_message(unknown: Iterable[str]) -> str:
    """'characters not in this model's vocabulary: 'é', '\\t'', deduplicated, in order."""
    distinct = list(dict.fromkeys(unknown))
    named = ", ".join(repr(c) for c in distinct[:_MAX_NAMED])
    more = len(distinct) - _MAX_NAMED
    suffix = f" and {more} more" if more > 0 else ""
    return f"characters not in this model's vocabulary: {named}{suffix}"


class CharTokenizer:
    """Maps each character to its index in `chars` (sorted when built from text)."""

    kind = "char"

    def __init__(self, chars: Sequence[str]) -> None:
        _check_chars(chars)
        self.chars: tuple[str, ...] = tuple(chars)
        self.vocab_size = len(self.chars)
        self._ids = {c: i for i, c in enumerate(self.chars)}
        self.eot_id: int | None = self._ids.get(DOCUMENT_END)
        # A document's text follows an end-of-text token, so an empty prompt starts a new
        # document from one; without documents, from a newline as nanoGPT's char models do.
        self.start_id = self.eot_id if self.eot_id is not None else self._ids.get("\n", 0)
        # what each id reads as: the boundary as the visible marker, as GPT-2 shows it
        self._shown = tuple(END_OF_TEXT if c == DOCUMENT_END else c for c in self.chars)
        points = np.array([ord(c) for c in self.chars], dtype=np.int64)
        # the narrowest ids that fit (what prepare stores), with the top value marking
        # code points outside the vocabulary
        dtype = np.uint16 if self.vocab_size <= 0xFFFF else np.uint32
        self._unknown = np.iinfo(dtype).max
        # at least 256 entries so ASCII bytes (uint8) index it without a bounds check
        self._lookup = np.full(max(256, int(points.max()) + 1), self._unknown, dtype=dtype)
        self._lookup[points] = np.arange(self.vocab_size, dtype=dtype)
        self._byte_table = _byte_table(self.chars) if self.vocab_size < _BYTE_UNKNOWN else None

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> CharTokenizer:
        chars = meta.get("chars")
        if not isinstance(chars, list):
            raise DataError("char tokenizer metadata has no 'chars' list", field="tokenizer")
        return cls(chars)

    def encode(self, text: str) -> list[int]:
        """A prompt's ids; "<|endoftext|>" is the end-of-text token if there is one."""
        parts = text.split(END_OF_TEXT) if self.eot_id is not None else [text]
        try:
            ids = [self._ids[c] for c in parts[0]]
            for part in parts[1:]:
                ids.append(self.eot_id)  # type: ignore[arg-type] (parts > 1: eot_id is set)
                ids.extend(self._ids[c] for c in part)
        except KeyError:
            unknown = (c for c in text if c not in self._ids)
            raise DataError(unknown_characters_message(unknown), field="prompt") from None
        return ids

    def encode_bulk(self, text: str) -> np.ndarray:
        """Training text to ids in the narrowest unsigned dtype that holds them (uint8 for a
        Latin-1 text and a small vocabulary): a table lookup per character, vectorised."""
        if self._byte_table is not None:
            ids = _translate(text, self._byte_table)
            if ids is not None:
                return ids
        points = code_points(text)
        if points.size and int(points.max()) >= self._lookup.size:
            ids = np.full(points.size, self._unknown, dtype=self._lookup.dtype)
            known = points < self._lookup.size
            ids[known] = self._lookup[points[known]]
        else:
            ids = self._lookup[points]
        if (ids == self._unknown).any():
            unknown = (chr(p) for p in points[ids == self._unknown])
            raise DataError(unknown_characters_message(unknown), field="file")
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        check_ids(ids, self.vocab_size)
        return "".join([self._shown[i] for i in ids])

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        return self.decode(ids).encode("utf-8")

    def to_meta(self) -> dict[str, Any]:
        return {"kind": self.kind, "chars": list(self.chars)}


def _byte_table(chars: Sequence[str]) -> bytes:
    """A bytes.translate table from Latin-1 code points to ids (vocabulary under 255)."""
    table = bytearray([_BYTE_UNKNOWN]) * 256
    for token_id, char in enumerate(chars):
        if ord(char) < 256:
            table[ord(char)] = token_id
    return bytes(table)


def _translate(text: str, table: bytes) -> np.ndarray | None:
    """uint8 ids through one bytes.translate pass, the fastest way for Latin-1 text (most
    corpora); None if the text is not Latin-1 or holds a character outside the vocabulary."""
    try:
        latin1 = text.encode("latin-1")  # a plain copy for ASCII text
    except UnicodeEncodeError:
        return None
    ids = latin1.translate(table)
    if ids.find(_BYTE_UNKNOWN) >= 0:
        return None  # the general path names the unknown characters
    return np.frombuffer(ids, dtype=np.uint8)


def _check_chars(chars: Sequence[str]) -> None:
    if not chars:
        raise DataError("a char vocabulary needs at least one character", field="tokenizer")
    if any(not isinstance(c, str) or len(c) != 1 for c in chars):
        raise DataError("a char vocabulary holds single characters only", field="tokenizer")
    if len(set(chars)) != len(chars):
        raise DataError("a char vocabulary lists a character twice", field="tokenizer")
