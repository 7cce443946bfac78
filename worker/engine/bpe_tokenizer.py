"""A byte-level BPE trained on the user's own text (Hugging Face `tokenizers`, Rust, all cores).

GPT-2's recipe with a vocabulary of the user's size: text is split by GPT-2's pre-tokenizing
regex, each piece is seen as UTF-8 bytes, and merges are learnt from the training split.
All 256 byte values are in the vocabulary from the start, so any text encodes, characters
the training text never had included (they fall back to their bytes). There are no special
tokens: ids 0..vocab_size-1 are all text, and an empty prompt starts from the newline byte.

The whole tokenizer is Hugging Face's `tokenizer.json` (plain JSON, never pickle): it is
written beside the token files, carried inside checkpoints, and exported as is.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

from worker.engine.errors import DataError
from worker.engine.gpt2_tokenizer import split_for_bpe
from worker.engine.gpt2_vocab_files import byte_to_char
from worker.engine.tokenizer_base import check_ids
from worker.engine.tokenizer_names import BPE_VOCAB_MAX, BPE_VOCAB_MIN

# The file beside train.bin/val.bin; the same name Hugging Face gives it.
TOKENIZER_FILE = "tokenizer.json"
# Text handed to the trainer or the encoder in pieces of about this many characters, cut
# where GPT-2's regex splits anyway: the pieces are spread over the cores, and the counts
# (and ids) are exactly those of the whole text.
PIECE_CHARS = 1 << 16


@functools.cache
def _char_to_byte() -> dict[str, int]:
    """The inverse of GPT-2's bytes-to-unicode table, which byte-level tokens are written in."""
    return {char: byte for byte, char in enumerate(byte_to_char())}


def _empty_tokenizer() -> HFTokenizer:
    tokenizer = HFTokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def train_bpe(texts: Iterable[str], vocab_size: int) -> BPETokenizer:
    """Learns merges from `texts` (the training split, streamed) up to `vocab_size` tokens.

    Deterministic: the same text gives the same tokenizer, whatever the chunking (pieces are
    cut only at pre-tokenizer boundaries, and pair counts are sums). A text with fewer
    distinct pairs than the vocabulary asks for stops early: vocab_size is an upper bound.
    """
    if not BPE_VOCAB_MIN <= vocab_size <= BPE_VOCAB_MAX:
        raise ValueError(f"vocab_size {vocab_size} is outside {BPE_VOCAB_MIN}..{BPE_VOCAB_MAX}")
    tokenizer = _empty_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte: nothing unknown
        special_tokens=[],
        show_progress=False,
    )

    def pieces() -> Iterable[str]:
        for text in texts:
            yield from split_for_bpe(text, PIECE_CHARS)

    tokenizer.train_from_iterator(pieces(), trainer=trainer)
    return BPETokenizer(tokenizer)


class BPETokenizer:
    """A trained byte-level BPE: the Tokenizer protocol over a Hugging Face tokenizer."""

    kind = "bpe"

    def __init__(self, tokenizer: HFTokenizer) -> None:
        self._tokenizer = tokenizer
        self.vocab_size = tokenizer.get_vocab_size()
        table = _char_to_byte()
        try:
            # each id's raw bytes, for decoding streams a byte at a time
            self._bytes: tuple[bytes, ...] = tuple(
                bytes(table[c] for c in tokenizer.id_to_token(i)) for i in range(self.vocab_size)
            )
        except (KeyError, TypeError):
            raise DataError(
                "the BPE tokenizer is not byte-level (a token is not GPT-2 byte text)",
                field="tokenizer",
            ) from None
        if len(set(self._bytes)) != self.vocab_size or not set(table.values()) <= {
            b[0] for b in self._bytes if len(b) == 1
        }:
            raise DataError(
                "the BPE tokenizer lacks some of the 256 bytes or repeats a token",
                field="tokenizer",
            )
        self.start_id = self._bytes.index(b"\n")

    @classmethod
    def from_json(cls, text: str) -> BPETokenizer:
        try:
            tokenizer = HFTokenizer.from_str(text)
        except Exception as exc:  # the Rust side raises plain Exception for bad JSON
            raise DataError(f"cannot read the BPE tokenizer: {exc}", field="tokenizer") from None
        return cls(tokenizer)

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> BPETokenizer:
        text = meta.get("tokenizer_json")
        if not isinstance(text, str):
            raise DataError("bpe tokenizer metadata has no 'tokenizer_json'", field="tokenizer")
        tokenizer = cls.from_json(text)
        if meta.get("vocab_size") not in (None, tokenizer.vocab_size):
            raise DataError(
                f"bpe tokenizer metadata says vocab_size {meta['vocab_size']} but the "
                f"tokenizer has {tokenizer.vocab_size}",
                field="tokenizer",
            )
        return tokenizer

    def to_json(self) -> str:
        """Hugging Face's tokenizer.json text (loads with tokenizers.Tokenizer.from_str)."""
        return self._tokenizer.to_str()

    def encode(self, text: str) -> list[int]:
        return list(self._tokenizer.encode(text).ids)

    def encode_bulk(self, text: str) -> np.ndarray:
        """Training text to uint16 ids on all cores (Rust threads); equal to encode(text)."""
        pieces = split_for_bpe(text, PIECE_CHARS)
        encodings = self._tokenizer.encode_batch_fast(pieces)  # no offsets: faster
        arrays = [np.asarray(e.ids, dtype=np.uint16) for e in encodings]  # ids < 32768
        return np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.uint16)

    def decode(self, ids: Sequence[int]) -> str:
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        """Raw UTF-8; a token may hold part of a character (StreamDecoder waits for the rest)."""
        check_ids(ids, self.vocab_size)
        return b"".join([self._bytes[i] for i in ids])

    def token_bytes(self, token_id: int) -> bytes:
        return self._bytes[token_id]

    def to_meta(self) -> dict[str, Any]:
        return {"kind": self.kind, "vocab_size": self.vocab_size, "tokenizer_json": self.to_json()}


def write_tokenizer_file(meta: dict[str, Any], data_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """For meta.json: a bpe tokenizer's JSON goes to data_dir/tokenizer.json, and the entry
    names the file instead. Other kinds are returned as they are."""
    if meta.get("kind") != BPETokenizer.kind:
        return meta
    (Path(data_dir) / TOKENIZER_FILE).write_text(meta["tokenizer_json"], encoding="utf-8")
    entry = {k: v for k, v in meta.items() if k != "tokenizer_json"}
    return {**entry, "file": TOKENIZER_FILE}


def read_tokenizer_file(meta: dict[str, Any], data_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The inverse of write_tokenizer_file: the entry with the JSON back in it."""
    if meta.get("kind") != BPETokenizer.kind or "tokenizer_json" in meta:
        return meta
    name = meta.get("file")
    if not isinstance(name, str) or Path(name).name != name:
        raise DataError("meta.json's bpe tokenizer names no file beside it", field="data_dir")
    path = Path(data_dir) / name
    try:
        text = path.read_text(encoding="utf-8")
        json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(
            f"cannot read {path}: {exc}; prepare the data again", field="data_dir"
        ) from exc
    entry = {k: v for k, v in meta.items() if k != "file"}
    return {**entry, "tokenizer_json": text}
