"""GPT-2 byte-pair encoding (tiktoken), built offline from the ranks file shipped with the engine.

The encoding is always built from `assets/gpt2.tiktoken` rather than `tiktoken.get_encoding`:
that would download on first use (and hang or fail offline), while the shipped file has the
hash tiktoken publishes for these ranks, so the ids are the same everywhere.

Two encodings of the same ranks: prompts have "<|endoftext|>" as the special token (as in
nanoGPT's sample.py); training text has the document boundary "\0" as that id instead, so
each document of a corpus is followed by 50256 as nanoGPT's openwebtext/prepare.py does,
and a literal "<|endoftext|>" in the text stays text.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import numpy as np
import tiktoken

from worker.engine.tokenizers.base import END_OF_TEXT, check_ids
from worker.engine.tokenizers.tiktoken_bulk import (
    PATTERN,
    PIECE_CHARS,
    bulk_encoding,
    encode_bulk,
    encoding_threads,
    split_for_bpe,
)

__all__ = [
    "END_OF_TEXT",
    "END_OF_TEXT_ID",
    "PATTERN",
    "PIECE_CHARS",
    "VOCAB_SIZE",
    "GPT2Tokenizer",
    "encoding_threads",
    "gpt2_encoding",
    "parse_ranks",
    "ranks_bytes",
    "split_for_bpe",
]

END_OF_TEXT_ID = 50256
VOCAB_SIZE = 50257
RANKS_FILE = "gpt2.tiktoken"
RANKS_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"


def ranks_bytes() -> bytes:
    """The packaged ranks file, hash checked (works from a wheel or a zip as well)."""
    data = resources.files("worker.engine").joinpath("assets", RANKS_FILE).read_bytes()
    if hashlib.sha256(data).hexdigest() != RANKS_SHA256:
        raise RuntimeError(f"worker/engine/assets/{RANKS_FILE} is corrupt (sha256 mismatch)")
    return data


def parse_ranks(data: bytes) -> dict[bytes, int]:
    """tiktoken's format, one 'base64(token) rank' per line.

    Parsed here rather than with tiktoken.load.load_tiktoken_bpe, which also writes a copy of
    any file it reads into a cache directory under /tmp.
    """
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


@functools.cache
def _ranks() -> dict[bytes, int]:
    return parse_ranks(ranks_bytes())


@functools.cache
def gpt2_encoding() -> tiktoken.Encoding:
    """For prompts: '<|endoftext|>' is 50256. Built once per process (a quarter second)."""
    return tiktoken.Encoding(
        name="gpt2",
        pat_str=PATTERN,
        mergeable_ranks=_ranks(),
        special_tokens={END_OF_TEXT: END_OF_TEXT_ID},
        explicit_n_vocab=VOCAB_SIZE,
    )


@functools.cache
def gpt2_bulk_encoding() -> tiktoken.Encoding:
    """For training text: the document boundary "\0" is 50256, "<|endoftext|>" is text."""
    return bulk_encoding("gpt2-documents", _ranks(), END_OF_TEXT_ID, VOCAB_SIZE)


class GPT2Tokenizer:
    """GPT-2's 50257 ids. Prompts may contain '<|endoftext|>' as the special token (as in
    nanoGPT's sample.py); training text never does: there it is encoded as plain text, and
    a document boundary ("\0") is the end-of-text token."""

    kind = "gpt2"
    vocab_size = VOCAB_SIZE
    start_id = END_OF_TEXT_ID
    eot_id: int | None = END_OF_TEXT_ID

    @functools.cached_property
    def _encoding(self) -> tiktoken.Encoding:
        # built on first use: inspect and prepare need only the bulk encoding (11 MB each)
        return gpt2_encoding()

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> GPT2Tokenizer:
        return cls()

    def encode(self, text: str) -> list[int]:
        return self._encoding.encode(text, allowed_special={END_OF_TEXT})

    def encode_bulk(self, text: str) -> np.ndarray:
        """Training text to uint16 ids on all cores: encode_ordinary of each document
        ("\0"-separated), each "\0" becoming 50256."""
        # every id is below 50257: narrowing to uint16 loses nothing
        return encode_bulk(gpt2_bulk_encoding(), text, np.uint16)

    def decode(self, ids: Sequence[int]) -> str:
        check_ids(ids, self.vocab_size)
        return self._encoding.decode(list(ids), errors="replace")

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        check_ids(ids, self.vocab_size)
        return self._encoding.decode_bytes(list(ids))

    def to_meta(self) -> dict[str, Any]:
        return {"kind": self.kind}
