"""Tokenizers by name or from saved metadata, and UTF-8-safe decoding of a token stream.

A new kind is a class with the Tokenizer members, a `from_meta` classmethod and an entry in
_KINDS. "char" and "bpe" are learnt from the training text by prepare; "gpt2" is fixed.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Mapping
from typing import Any

from worker.engine.errors import ConfigError, DataError
from worker.engine.tokenizers.base import Tokenizer
from worker.engine.tokenizers.bpe import BPETokenizer
from worker.engine.tokenizers.char import CharTokenizer
from worker.engine.tokenizers.gpt2 import GPT2Tokenizer

__all__ = [
    "KINDS",
    "BPETokenizer",
    "CharTokenizer",
    "GPT2Tokenizer",
    "StreamDecoder",
    "Tokenizer",
    "get_tokenizer",
    "tokenizer_from_meta",
]

_KINDS: dict[str, Callable[[Mapping[str, Any]], Tokenizer]] = {
    "char": CharTokenizer.from_meta,
    "gpt2": GPT2Tokenizer.from_meta,
    "bpe": BPETokenizer.from_meta,
}
KINDS: tuple[str, ...] = tuple(_KINDS)


def get_tokenizer(kind: str, *, chars: list[str] | None = None) -> Tokenizer:
    """`chars` is the char vocabulary, in id order; only "char" takes (and needs) it."""
    _check_kind(kind, ConfigError)
    if kind == "char":
        if chars is None:
            raise ConfigError("a char tokenizer needs its characters", field="tokenizer")
        return CharTokenizer(chars)
    if kind == "bpe":
        raise ConfigError(
            "a bpe tokenizer is trained on the text: prepare it with --tokenizer bpe",
            field="tokenizer",
        )
    return _KINDS[kind]({"kind": kind})


def tokenizer_from_meta(meta: Mapping[str, Any]) -> Tokenizer:
    """Rebuilds a tokenizer from its to_meta() data (from meta.json or a checkpoint)."""
    if not isinstance(meta, Mapping) or not isinstance(meta.get("kind"), str):
        raise DataError("tokenizer metadata has no 'kind'", field="tokenizer")
    _check_kind(meta["kind"], DataError)
    return _KINDS[meta["kind"]](meta)


def _check_kind(kind: str, error: type[ConfigError] | type[DataError]) -> None:
    if kind not in _KINDS:
        known = ", ".join(repr(k) for k in KINDS)
        raise error(f"unknown tokenizer {kind!r}; choose one of {known}", field="tokenizer")


class StreamDecoder:
    """Turns ids, fed one at a time, into text that never ends in half a character.

    A byte-level BPE token (GPT-2's or a trained one) can carry the first bytes of a
    multibyte character; those bytes wait here until the rest arrives. Bytes that can never
    form a character become U+FFFD, as in decode().
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, token_id: int) -> str:
        """The complete text this id finishes (often all of it, sometimes '')."""
        return self._utf8.decode(self._tokenizer.decode_bytes([token_id]))

    def flush(self) -> str:
        """At the end of the stream: whatever is left (U+FFFD for an unfinished character)."""
        return self._utf8.decode(b"", final=True)
