"""A byte-level BPE trained on the user's own text (Hugging Face `tokenizers`, Rust, all cores).

GPT-2's recipe with a vocabulary of the user's size: text is split by GPT-2's pre-tokenizing
regex, each piece is seen as UTF-8 bytes, and merges are learnt from the training split.
All 256 byte values are in the vocabulary from the start, so any text encodes, characters
the training text never had included (they fall back to their bytes).

A corpus of one document has no special tokens: every id is text, and an empty prompt
starts from the newline byte. A corpus of several documents gets one, "<|endoftext|>",
added after training as the last id (vocab_size - 1 tokens are trained, so bpe-2048 still
means at most 2048 ids); it is never trained on (documents reach the trainer one by one,
without their NUL), follows each document in the token files, starts an empty prompt, and
is what "<|endoftext|>" in a prompt encodes to.

The whole tokenizer is Hugging Face's `tokenizer.json` (plain JSON, never pickle): it is
written beside the token files, carried inside checkpoints, and exported as is. Training
text is encoded by tiktoken from the same ranks where that gives the same ids (bpe_bulk.py).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tokenizers import AddedToken, decoders, models, pre_tokenizers, trainers
from tokenizers import Tokenizer as HFTokenizer

from worker.engine.errors import DataError
from worker.engine.tokenizers.base import DOCUMENT_END, END_OF_TEXT, check_ids
from worker.engine.tokenizers.bpe_bulk import BulkEncoder, HFBulkEncoder, TiktokenBulkEncoder
from worker.engine.tokenizers.gpt2_vocab_files import byte_to_char
from worker.engine.tokenizers.names import BPE_VOCAB_MAX, BPE_VOCAB_MIN
from worker.engine.tokenizers.tiktoken_bulk import split_for_bpe

BulkName = Literal["hf", "tiktoken"]

# The file beside train.bin/val.bin; the same name Hugging Face gives it.
TOKENIZER_FILE = "tokenizer.json"
# Text handed to the trainer in pieces of about this many characters, cut where GPT-2's
# regex splits anyway: the pieces are spread over the cores, and the counts are exactly
# those of the whole text.
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


def train_bpe(texts: Iterable[str], vocab_size: int, *, end_of_text: bool = False) -> BPETokenizer:
    """Learns merges from `texts` (the training split, streamed) up to `vocab_size` tokens.

    Deterministic: the same text gives the same tokenizer, whatever the chunking (pieces are
    cut only at pre-tokenizer boundaries, and pair counts are sums). A text with fewer
    distinct pairs than the vocabulary asks for stops early: vocab_size is an upper bound.
    With end_of_text, vocab_size - 1 tokens are trained and "<|endoftext|>" is added as
    the last id. Each text is trained on by itself (no pair spans two); none may hold a NUL:
    documents are handed over one by one, without their boundary.
    """
    low = BPE_VOCAB_MIN + (1 if end_of_text else 0)
    if not low <= vocab_size <= BPE_VOCAB_MAX:
        raise ValueError(f"vocab_size {vocab_size} is outside {low}..{BPE_VOCAB_MAX}")
    tokenizer = _empty_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - (1 if end_of_text else 0),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte: nothing unknown
        special_tokens=[],
        show_progress=False,
    )

    def pieces() -> Iterable[str]:
        for text in texts:
            if DOCUMENT_END in text:
                raise ValueError("a text to train a BPE on holds a NUL (a document boundary)")
            yield from split_for_bpe(text, PIECE_CHARS)

    tokenizer.train_from_iterator(pieces(), trainer=trainer)
    if end_of_text:
        # Never learnt as text: GPT-2's regex cuts "<|endoftext|>" into "<|", "endoftext" and
        # "|>", and merges never cross its pieces. (Hugging Face would give an added token
        # that spells a learnt one the learnt id, not a new last one.)
        if tokenizer.token_to_id(END_OF_TEXT) is not None:
            raise RuntimeError(f"the BPE learnt {END_OF_TEXT} as text")
        tokenizer.add_special_tokens([AddedToken(END_OF_TEXT, special=True, normalized=False)])
    return BPETokenizer(tokenizer)


class BPETokenizer:
    """A trained byte-level BPE: the Tokenizer protocol over a Hugging Face tokenizer.

    encode (prompts) is always Hugging Face's, the tokenizer.json that is stored and
    exported. encode_bulk (training text) is Hugging Face's too unless prepare switched it to
    tiktoken (use_bulk_encoder) after checking that both give the same ids on the text.
    """

    kind = "bpe"

    def __init__(self, tokenizer: HFTokenizer) -> None:
        self._tokenizer = tokenizer
        self.vocab_size = tokenizer.get_vocab_size()
        self.eot_id = _end_of_text_id(tokenizer, self.vocab_size)
        table = _char_to_byte()
        text_ids = [i for i in range(self.vocab_size) if i != self.eot_id]
        try:
            # each id's raw bytes, for decoding streams a byte at a time
            by_id = {i: bytes(table[c] for c in tokenizer.id_to_token(i)) for i in text_ids}
        except (KeyError, TypeError):
            raise DataError(
                "the BPE tokenizer is not byte-level (a token is not GPT-2 byte text)",
                field="tokenizer",
            ) from None
        # The special token is left out of these checks: its text may also be a learnt
        # token's bytes (a corpus about tokenizers), and it is not text anyway.
        if len(set(by_id.values())) != len(by_id) or not set(table.values()) <= {
            b[0] for b in by_id.values() if len(b) == 1
        }:
            raise DataError(
                "the BPE tokenizer lacks some of the 256 bytes or repeats a token",
                field="tokenizer",
            )
        if self.eot_id is not None:
            by_id[self.eot_id] = END_OF_TEXT.encode()  # decodes to the visible marker
        self._bytes: tuple[bytes, ...] = tuple(by_id[i] for i in range(self.vocab_size))
        newline = self._bytes.index(b"\n")
        self.start_id = self.eot_id if self.eot_id is not None else newline
        self.bulk_encoder: BulkName = "hf"
        self._bulk: dict[BulkName, BulkEncoder] = {}

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
        """A prompt's ids; "<|endoftext|>" is the end-of-text token if there is one."""
        return list(self._tokenizer.encode(text).ids)

    def encode_bulk(self, text: str) -> np.ndarray:
        """Training text to uint16 ids on all cores: each document ("\0"-separated) as
        encode would give it, "<|endoftext|>" in it as text, and each "\0" the eot_id."""
        return self._bulk_encoder(self.bulk_encoder).encode(text)

    def use_bulk_encoder(self, name: BulkName) -> None:
        """ "hf" (the reference) or "tiktoken" (2-8x faster; the same ids where checked)."""
        if name not in ("hf", "tiktoken"):
            raise ValueError(f"no bulk encoder {name!r}")
        self.bulk_encoder = name

    def bulk_encoders_agree(self, texts: Iterable[str]) -> bool:
        """Whether tiktoken gives Hugging Face's ids on every one of `texts`.

        tiktoken merges the adjacent pair whose merged bytes have the lowest rank, Hugging
        Face the pair whose merge came first; on a vocabulary where a token's bytes can be
        reached by two merges the two may differ, so prepare asks before using tiktoken.
        """
        hf, fast = self._bulk_encoder("hf"), self._bulk_encoder("tiktoken")
        return all(np.array_equal(hf.encode(t), fast.encode(t)) for t in texts)

    def _bulk_encoder(self, name: BulkName) -> BulkEncoder:
        if name not in self._bulk:
            if name == "hf":
                self._bulk[name] = HFBulkEncoder(self.to_json(), self.eot_id)
            else:
                self._bulk[name] = TiktokenBulkEncoder(self._bytes, self.eot_id)
        return self._bulk[name]

    def decode(self, ids: Sequence[int]) -> str:
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        """Raw UTF-8; a token may hold part of a character (StreamDecoder waits for the rest).
        The end-of-text token reads "<|endoftext|>"."""
        check_ids(ids, self.vocab_size)
        return b"".join([self._bytes[i] for i in ids])

    def token_bytes(self, token_id: int) -> bytes:
        return self._bytes[token_id]

    def to_meta(self) -> dict[str, Any]:
        return {"kind": self.kind, "vocab_size": self.vocab_size, "tokenizer_json": self.to_json()}


def _end_of_text_id(tokenizer: HFTokenizer, vocab_size: int) -> int | None:
    """The id of the special "<|endoftext|>" (the last), None without one; DataError for
    any other added token, which prepare never makes."""
    added = {i: token.content for i, token in tokenizer.get_added_tokens_decoder().items()}
    if not added:
        return None
    if added != {vocab_size - 1: END_OF_TEXT}:
        raise DataError(
            f"the BPE tokenizer's added tokens {sorted(added.values())} are not one "
            f"{END_OF_TEXT} as its last id",
            field="tokenizer",
        )
    return vocab_size - 1


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
