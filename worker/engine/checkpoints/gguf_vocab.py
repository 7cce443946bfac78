"""A studio tokenizer as llama.cpp's "gpt2" tokenizer (byte-level BPE): tokens, types, merges.

llama.cpp's tokenizers are SentencePiece ("llama"), byte-level BPE ("gpt2"), WordPiece
("bert"), Unigram ("t5") and RWKV's. Every studio tokenizer fits the byte-level BPE one:
- gpt2: GPT-2's own vocabulary and merges (rebuilt offline, gpt2_vocab_files.py);
- bpe: the trained tokenizer.json's vocabulary and merges, which are byte-level with GPT-2's
  pre-tokenizing regex, as llama.cpp's "gpt-2" pre-tokenizer splits;
- char: each character is one token, written as its UTF-8 bytes in GPT-2's byte alphabet.
  An ASCII character is one byte, so one symbol, so its token with no merge at all; a
  character of 2-4 bytes gets the merges that join its bytes left to right (a UTF-8 lead
  byte is only ever followed by its own continuation bytes, so these merges never join
  two characters). Characters the model does not know have no token, as in the studio.

The end-of-text token ("<|endoftext|>"; a char model's "\\0") is a control token and the
end-of-sequence id, so llama.cpp stops at the end of a document; it is never the
beginning-of-sequence token added to a prompt (none is: the studio adds none).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from worker.engine.errors import DataError
from worker.engine.tokenizers.base import DOCUMENT_END, END_OF_TEXT
from worker.engine.tokenizers.gpt2_vocab_files import token_text, vocab_and_merges
from worker.engine.tokenizers.load import tokenizer_from_meta

# gguf's TokenType values (llama.cpp's llama_token_type)
NORMAL, CONTROL = 1, 3
# What a GGUF writer calls the pre-tokenizer that splits as GPT-2's regex does.
PRE_TOKENIZER = "gpt-2"


@dataclass(frozen=True)
class GGUFVocab:
    tokens: list[str]  # by id, in GPT-2's byte alphabet (control tokens as their text)
    types: list[int]
    merges: list[str]  # "left right", first merge first
    eos_id: int | None


def gguf_vocab(meta: dict[str, Any]) -> GGUFVocab:
    """The llama.cpp vocabulary of a checkpoint's tokenizer metadata."""
    kind = meta.get("kind")
    eot_id = tokenizer_from_meta(meta).eot_id
    if kind == "gpt2":
        vocab, merges = vocab_and_merges()
        tokens = _by_id(vocab)
    elif kind == "bpe":
        model = json.loads(meta["tokenizer_json"])["model"]
        vocab = dict(model["vocab"])
        if eot_id is not None:
            vocab[END_OF_TEXT] = eot_id
        tokens = _by_id(vocab)
        merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    elif kind == "char":
        chars: list[str] = list(meta["chars"])
        tokens = [END_OF_TEXT if c == DOCUMENT_END else token_text(c.encode()) for c in chars]
        merges = _char_merges(chars)
    else:
        raise DataError(f"no GGUF vocabulary for tokenizer {kind!r}", field="tokenizer")
    types = [CONTROL if i == eot_id else NORMAL for i in range(len(tokens))]
    return GGUFVocab(tokens=tokens, types=types, merges=merges, eos_id=eot_id)


def _by_id(vocab: dict[str, int]) -> list[str]:
    tokens = sorted(vocab, key=vocab.__getitem__)
    if [vocab[t] for t in tokens] != list(range(len(tokens))):
        raise DataError("the tokenizer's ids are not 0..n-1 without gaps", field="tokenizer")
    return tokens


# llama.cpp refuses a "gpt2" vocabulary without merges, and the gguf package cannot write an
# empty array: an ASCII-only char vocabulary gets this one merge, of two NUL bytes, which no
# text it can read holds (found by `make llama-check`).
NO_MERGE = " ".join([token_text(bytes(1))] * 2)


def _char_merges(chars: list[str]) -> list[str]:
    """The merges that join each multi-byte character's bytes, left to right, once each."""
    merges: dict[str, None] = {}
    for char in chars:
        data = char.encode()
        for end in range(2, len(data) + 1):
            merges[f"{token_text(data[: end - 1])} {token_text(data[end - 1 : end])}"] = None
    return list(merges) or [NO_MERGE]
