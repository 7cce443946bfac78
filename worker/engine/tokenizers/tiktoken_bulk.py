"""Training text through a tiktoken encoding on all cores, with exactly the ids of the whole.

Used by GPT-2 and by a trained BPE alike. Text is cut into pieces of about PIECE_CHARS
characters where GPT-2's pre-tokenizing regex splits anyway, the pieces are encoded on a
thread pool (tiktoken releases the GIL), and the ids are joined. A bulk encoding has "\\0"
as its one special token, the end-of-text id: tiktoken splits the text at special tokens and
encodes what lies between on its own, so each document of a corpus is encoded by itself
and followed by the end-of-text token, while the literal text "<|endoftext|>" stays text.
"""

from __future__ import annotations

import functools
import os
import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import tiktoken

from worker.engine.tokenizers.base import DOCUMENT_END

# GPT-2's pre-tokenizer regex in the faster, equivalent form tiktoken uses for "gpt2"
PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
# Bulk text is cut into pieces of about this many characters, encoded on all cores.
PIECE_CHARS = 1 << 16
# A cut just before ASCII whitespace that follows a non-space character is also a boundary
# between the regex's pieces, so encoding the pieces separately gives exactly the ids of
# encoding the whole text. (Python's \S is narrower than the regex's, which keeps this safe.)
_SAFE_CUT = re.compile(r"\S(?=[\t\n\x0b\x0c\r ])")


def bulk_encoding(
    name: str, ranks: dict[bytes, int], end_of_text_id: int | None, n_vocab: int
) -> tiktoken.Encoding:
    """An encoding for training text: the ranks, and "\\0" as the end-of-text id if any."""
    special = {DOCUMENT_END: end_of_text_id} if end_of_text_id is not None else {}
    return tiktoken.Encoding(
        name=name,
        pat_str=PATTERN,
        mergeable_ranks=ranks,
        special_tokens=special,
        explicit_n_vocab=n_vocab,
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


def safe_cut_after(text: str, start: int) -> int | None:
    """The first cut at or after `start` (> 0) that keeps the ids exact, or None."""
    match = _SAFE_CUT.search(text, start - 1)
    return match.end() if match is not None else None


def safe_cut_before(text: str, end: int, floor: int) -> int | None:
    """The last cut after `floor` and at or before `end` that keeps the ids exact, or None.
    Looked for in a window before `end` that widens until one is found."""
    low = end
    while low > floor:
        low = max(floor, end - 4 * (end - low) - 1024)
        # endpos end + 1: the whitespace after a cut at `end` must be seen by the lookahead
        last = None
        for last in _SAFE_CUT.finditer(text, low, end + 1):  # noqa: B007 (the last one)
            pass
        if last is not None and last.end() > floor:
            return last.end()
    return None


def encode_bulk(
    encoding: tiktoken.Encoding, text: str, dtype: type[np.unsignedinteger]
) -> np.ndarray:
    """The ids of `text` (special tokens allowed) on all cores, in `dtype`, which must hold
    every id (narrowed while joining the pieces: no second copy of the chunk's ids)."""
    pieces = split_for_bpe(text)
    arrays = list(_encoding_pool(os.getpid()).map(functools.partial(_encode, encoding), pieces))
    return np.concatenate(arrays, dtype=dtype, casting="unsafe")


def _encode(encoding: tiktoken.Encoding, text: str) -> np.ndarray:
    # a buffer instead of a list of Python ints, encoded with the GIL released
    return encoding.encode_to_numpy(text, allowed_special="all")


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
    return ThreadPoolExecutor(encoding_threads(), thread_name_prefix=f"bpe-{pid}")
