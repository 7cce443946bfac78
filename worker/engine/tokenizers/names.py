"""A tokenizer's name: its kind, and for a trained BPE its vocabulary size ("bpe-2048").

The name is what tells preparations apart (a dataset prepared with bpe-2048 and bpe-8192 is
two preparations) and what a run, a page or a folder shows. It is light (no tokenizer
library imported), so the web side can use it.
"""

from __future__ import annotations

from worker.engine.errors import ConfigError

KIND_NAMES = ("char", "gpt2", "bpe")
BPE_VOCAB_MIN = 256  # the byte alphabet: a BPE with no merges
BPE_VOCAB_MAX = 32768  # ids stay uint16, and a small model's embedding stays small
BPE_VOCAB_DEFAULT = 2048


def tokenizer_name(kind: str, vocab_size: int | None = None) -> str:
    """'char', 'gpt2' or 'bpe-<vocab_size>'; ConfigError naming the field that is wrong."""
    if kind not in KIND_NAMES:
        known = ", ".join(repr(k) for k in KIND_NAMES)
        raise ConfigError(f"unknown tokenizer {kind!r}; choose one of {known}", field="tokenizer")
    if kind != "bpe":
        if vocab_size is not None:
            raise ConfigError(
                f"vocab_size is for the bpe tokenizer only; {kind} has a fixed vocabulary",
                field="vocab_size",
            )
        return kind
    size = BPE_VOCAB_DEFAULT if vocab_size is None else vocab_size
    if isinstance(size, bool) or not isinstance(size, int):
        raise ConfigError(f"vocab_size must be a whole number, not {size!r}", field="vocab_size")
    if not BPE_VOCAB_MIN <= size <= BPE_VOCAB_MAX:
        raise ConfigError(
            f"vocab_size must be between {BPE_VOCAB_MIN} and {BPE_VOCAB_MAX}, not {size}",
            field="vocab_size",
        )
    return f"bpe-{size}"


def parse_tokenizer_name(name: str) -> tuple[str, int | None]:
    """('bpe', 2048) for 'bpe-2048', ('char', None) for 'char'; ConfigError for anything else."""
    kind, _, size = name.partition("-")
    if kind == "bpe" and size.isdigit():
        vocab_size: int | None = int(size)
        if tokenizer_name(kind, vocab_size) == name:  # no leading zeros, in range
            return kind, vocab_size
    elif not size and kind in KIND_NAMES and kind != "bpe":
        return kind, None
    raise ConfigError(f"{name!r} is not a tokenizer name (char, gpt2, bpe-<n>)", field="tokenizer")
