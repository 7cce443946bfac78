"""GPT-2's vocab.json and merges.txt, rebuilt offline from the shipped tiktoken ranks.

The ranks file lists every token's bytes with its id. Hugging Face's GPT-2 tokenizer wants
the same vocabulary as text (each byte shown as a printable character, GPT-2's
bytes-to-unicode table) plus the merge list. Token ids 256.. were made one merge each, in
id order, so the merge that made a token is found by running BPE on its bytes with only the
lower-ranked tokens allowed: that stops at exactly two parts, the pair that was merged.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from worker.engine.tokenizers.gpt2 import END_OF_TEXT, END_OF_TEXT_ID, parse_ranks, ranks_bytes

MERGES_HEADER = "#version: 0.2"


@functools.cache
def byte_to_char() -> tuple[str, ...]:
    """GPT-2's printable stand-in for each byte value (index = byte).

    Bytes that are printable Latin-1 ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves; the
    other 68 (controls, space, soft hyphen, ...) take code points 256, 257, ... in byte order.
    """
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table: list[str] = [""] * 256
    for byte in printable:
        table[byte] = chr(byte)
    spare = 256
    for byte in range(256):
        if not table[byte]:
            table[byte] = chr(spare)
            spare += 1
    return tuple(table)


def token_text(token: bytes) -> str:
    table = byte_to_char()
    return "".join(table[b] for b in token)


def merged_pair(token: bytes, rank: int, ranks: dict[bytes, int]) -> tuple[bytes, bytes]:
    """The two tokens whose merge made `token`: BPE on its bytes using ranks below `rank`."""
    parts = [bytes([b]) for b in token]
    while len(parts) > 2:
        best_rank, best_at = rank, -1
        for i in range(len(parts) - 1):
            pair_rank = ranks.get(parts[i] + parts[i + 1], rank)
            if pair_rank < best_rank:
                best_rank, best_at = pair_rank, i
        if best_at < 0:
            break
        parts[best_at : best_at + 2] = [parts[best_at] + parts[best_at + 1]]
    assert len(parts) == 2, f"token {token!r} (id {rank}) is not one merge of two tokens"
    return parts[0], parts[1]


def vocab_and_merges() -> tuple[dict[str, int], list[str]]:
    """vocab.json's mapping (text -> id, <|endoftext|> included) and merges.txt's lines."""
    ranks = parse_ranks(ranks_bytes())
    by_id = sorted(ranks.items(), key=lambda item: item[1])
    assert [rank for _, rank in by_id] == list(range(len(by_id)))  # ids 0..50255, no gaps
    vocab = {token_text(token): rank for token, rank in by_id}
    vocab[END_OF_TEXT] = END_OF_TEXT_ID
    merges = []
    for token, rank in by_id:
        if len(token) > 1:
            left, right = merged_pair(token, rank, ranks)
            merges.append(f"{token_text(left)} {token_text(right)}")
    assert len(merges) == len(by_id) - 256  # one merge per token past the 256 bytes
    return vocab, merges


def write_tokenizer_files(folder: Path, *, model_max_length: int) -> list[str]:
    """vocab.json, merges.txt, tokenizer_config.json and special_tokens_map.json; their names."""
    vocab, merges = vocab_and_merges()
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("\n".join([MERGES_HEADER, *merges]) + "\n", encoding="utf-8")
    special = {"bos_token": END_OF_TEXT, "eos_token": END_OF_TEXT, "unk_token": END_OF_TEXT}
    config = {
        "tokenizer_class": "GPT2Tokenizer",
        "model_max_length": model_max_length,
        "add_prefix_space": False,
        **special,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2), "utf-8")
    return ["vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"]
