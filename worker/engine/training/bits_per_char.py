"""Bits per character: a loss that runs with different tokenizers can be compared by.

A loss in nats per token depends on what a token is: a char model's tokens are characters,
a BPE's are a few characters each. Per character of the text, and in bits, the figure means
the same whatever the tokenizer (it is the compressed size of the text):

    bits/char = nats/token × tokens/char ÷ ln 2

tokens/char is that of the whole split the loss was measured on (meta.json counts both).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def bits_per_character(nats_per_token: float, tokens: int, characters: int) -> float:
    """The loss of a split of `tokens` tokens and `characters` characters, per character."""
    assert tokens > 0 and characters > 0, "a split has tokens and characters"
    return nats_per_token * (tokens / characters) / math.log(2)


def tokens_per_character(meta: Mapping[str, Any], split: str) -> float | None:
    """tokens/char of a prepared split; None for data prepared before characters were
    counted per split (its runs record no bits per character)."""
    characters = meta.get(f"{split}_characters")
    tokens = meta.get(f"{split}_tokens")
    if not isinstance(characters, int) or not isinstance(tokens, int) or characters <= 0:
        return None
    return tokens / characters


def val_bits_per_character(val_loss: float, meta: Mapping[str, Any]) -> float | None:
    """A val loss (nats/token) in bits per character of the val split, when meta can say."""
    ratio = tokens_per_character(meta, "val")
    return None if ratio is None else val_loss * ratio / math.log(2)
