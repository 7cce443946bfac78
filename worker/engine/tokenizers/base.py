"""What every tokenizer offers: the Protocol the CLI, prepare, training and sampling use."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

# How the end-of-text token reads as text (decoded, and in prompts), for every kind.
END_OF_TEXT = "<|endoftext|>"
# What ends a document in a corpus file (and in training text handed to encode_bulk).
DOCUMENT_END = "\0"


class Tokenizer(Protocol):
    kind: str  # "char" | "gpt2" | "bpe"; the key in meta["tokenizer"]["kind"]
    vocab_size: int  # ids the model may emit
    start_id: int  # the first token when sampling from an empty prompt
    # the token after each document of a corpus (None: this tokenizer has none). It decodes
    # to END_OF_TEXT, and END_OF_TEXT in a prompt encodes to it.
    eot_id: int | None

    def encode(self, text: str) -> list[int]:
        """A prompt to ids; DataError (field="prompt") when the text cannot be encoded."""
        ...

    def encode_bulk(self, text: str) -> np.ndarray:
        """Training text to an array of ids (an unsigned dtype wide enough for vocab_size),
        as fast as the machine allows; equal to encoding the text whole. A DOCUMENT_END in it
        is the eot_id (each document is encoded on its own); END_OF_TEXT is plain text."""
        ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        """Raw UTF-8; a byte-level BPE token may hold part of a character."""
        ...

    def to_meta(self) -> dict[str, Any]:
        """Plain JSON data from which tokenizer_from_meta rebuilds this tokenizer."""
        ...


def check_ids(ids: Sequence[int], vocab_size: int) -> None:
    """ValueError for an id outside 0..vocab_size-1 (a negative one would index from the end)."""
    for token_id in ids:
        if not 0 <= token_id < vocab_size:
            raise ValueError(f"token id {token_id} is outside the vocabulary (0..{vocab_size - 1})")
