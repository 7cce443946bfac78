"""GPT-2 byte-pair encoding (tiktoken), built offline from the ranks file shipped with the engine.

The encoding is always built from `assets/gpt2.tiktoken` rather than `tiktoken.get_encoding`:
that would download on first use (and hang or fail offline), while the shipped file has the
hash tiktoken publishes for these ranks, so the ids are the same everywhere.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Any

import numpy as np
import tiktoken

from worker.engine.tokenizer_base import check_ids

END_OF_TEXT = "<|endoftext|>"
END_OF_TEXT_ID = 50256
VOCAB_SIZE = 50257
RANKS_FILE = "gpt2.tiktoken"
RANKS_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"
# GPT-2's pre-tokenizer regex in the faster, equivalent form tiktoken uses for "gpt2"
PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""

# Bulk text is cut into pieces of about this many characters, encoded on all cores.
PIECE_CHARS = 1 << 16
# A cut just before ASCII whitespace that follows a non-space character is also a boundary
# between the regex's pieces, so encoding the pieces separately gives exactly the ids of
# encoding the whole text. (Python's \S is narrower than the regex's, which keeps this safe.)
_SAFE_CUT = re.compile(r"\S(?=[\t\n\x0b\x0c\r ])")


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
def gpt2_encoding() -> tiktoken.Encoding:
    """Built once per process (about a quarter of a second)."""
    return tiktoken.Encoding(
        name="gpt2",
        pat_str=PATTERN,
        mergeable_ranks=parse_ranks(ranks_bytes()),
        special_tokens={END_OF_TEXT: END_OF_TEXT_ID},
        explicit_n_vocab=VOCAB_SIZE,
    )


def split_for_bpe(text: str, piece_chars: int = PIECE_CHARS) -> list[str]:
    """Cuts text into pieces of at least piece_chars at boundaries that keep the ids exact."""
    pieces: list[str] = []
    start = 0
    while len(text) - start > piece_chars:
        match = _SAFE_CUT.search(text, start + piece_chars)
        if match is None:  # no whitespace left: the rest stays one piece
            break
        pieces.append(text[start : match.end()])
        start = match.end()
    pieces.append(text[start:])
    return pieces


def encoding_threads() -> int:
    """Cores this process may run on (the affinity mask, which containers narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@functools.cache
def _encoding_pool(pid: int) -> ThreadPoolExecutor:
    """One pool per process (keyed by pid: a forked child must not use its parent's). The same
    threads chunk after chunk keep the allocator's per-thread arenas few, and memory flat."""
    return ThreadPoolExecutor(encoding_threads(), thread_name_prefix=f"gpt2-bpe-{pid}")


class GPT2Tokenizer:
    """GPT-2's 50257 ids. Prompts may contain '<|endoftext|>' as the special token (as in
    nanoGPT's sample.py); training text never does: there it is encoded as plain text."""

    kind = "gpt2"
    vocab_size = VOCAB_SIZE
    start_id = END_OF_TEXT_ID

    def __init__(self) -> None:
        self._encoding = gpt2_encoding()

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> GPT2Tokenizer:
        return cls()

    def encode(self, text: str) -> list[int]:
        return self._encoding.encode(text, allowed_special={END_OF_TEXT})

    def encode_bulk(self, text: str) -> np.ndarray:
        """Training text to uint16 ids on all cores; equal to encode_ordinary(text)."""
        pieces = split_for_bpe(text)
        arrays = list(_encoding_pool(os.getpid()).map(self._encode_ordinary_array, pieces))
        # every id is below 50257: narrowing to uint16 loses nothing
        return np.concatenate(arrays, dtype=np.uint16, casting="unsafe")

    def _encode_ordinary_array(self, text: str) -> np.ndarray:
        # no special tokens allowed or refused: the same ids as encode_ordinary, returned as
        # a buffer instead of a list of Python ints, and encoded with the GIL released
        return self._encoding.encode_to_numpy(text, disallowed_special=())

    def decode(self, ids: Sequence[int]) -> str:
        check_ids(ids, self.vocab_size)
        return self._encoding.decode(list(ids), errors="replace")

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        check_ids(ids, self.vocab_size)
        return self._encoding.decode_bytes(list(ids))

    def to_meta(self) -> dict[str, Any]:
        return {"kind": self.kind}
