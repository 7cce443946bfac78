"""GGUF exports read back with the `gguf` package: tensors against the checkpoint (f32
exactly, f16 and q8_0 within their precision), and the tokenizer metadata against ours
(tokens, types, end-of-text, and merges that encode text to our ids)."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest
import torch
from engine_helpers import shakespeare

from worker.engine.checkpoints.export import export_checkpoint
from worker.engine.checkpoints.files import LATEST, save_checkpoint
from worker.engine.checkpoints.gguf_vocab import CONTROL, NO_MERGE, NORMAL
from worker.engine.errors import ConfigError
from worker.engine.model.build import build_model
from worker.engine.tokenizers.base import Tokenizer
from worker.engine.tokenizers.bpe import train_bpe
from worker.engine.tokenizers.load import get_tokenizer

CHARS = ["\0", "\n", " ", "R", "O", "M", "E", ":", "a", "é", "€", "𝄞"]  # 1- to 4-byte characters


def checkpoint_for(tokenizer: Tokenizer, *, vocab_size: int, bias: bool, **args: Any) -> dict:
    torch.manual_seed(0)
    model_args = {"n_layer": 2, "n_head": 2, "n_embd": 64, "block_size": 16, "bias": bias,
                  "vocab_size": vocab_size, "dropout": 0.0, **args}  # fmt: skip
    model = build_model(model_args)
    return {
        "model": model.state_dict(),
        "model_args": model_args,
        "iter_num": 7,
        "best_val_loss": 2.0,
        "config": {"dataset": "t"},
        "tokenizer": tokenizer.to_meta(),
    }


def export(tmp: Path, checkpoint: dict, fmt: str = "gguf") -> gguf.GGUFReader:
    save_checkpoint(checkpoint, tmp / LATEST)
    (path,) = export_checkpoint(tmp, fmt, tmp / fmt)
    assert path.name == "model.gguf"
    return gguf.GGUFReader(path)


def field(reader: gguf.GGUFReader, key: str) -> Any:
    return reader.fields[key].contents()


def tensors(reader: gguf.GGUFReader) -> dict[str, np.ndarray]:
    out = {}
    for t in reader.tensors:
        data = gguf.quants.dequantize(t.data, t.tensor_type)
        out[t.name] = np.asarray(data, dtype=np.float32).reshape(list(reversed(t.shape.tolist())))
    return out


def bpe_encode(piece: str, tokens: list[str], merges: list[str]) -> list[int]:
    """llama.cpp's BPE on one pre-tokenized piece: its bytes in GPT-2's alphabet, the
    lowest-ranked adjacent pair merged until none is left, then each symbol's id."""
    from worker.engine.tokenizers.gpt2_vocab_files import token_text

    ranks = {tuple(m.split(" ")): r for r, m in enumerate(merges)}
    symbols = list(token_text(piece.encode()))
    while True:
        pairs = [(ranks.get(pair, len(ranks)), i) for i, pair in enumerate(pairwise(symbols))]
        if not pairs or min(pairs)[0] == len(ranks):
            break
        _, i = min(pairs)
        symbols[i : i + 2] = [symbols[i] + symbols[i + 1]]
    ids = {t: i for i, t in enumerate(tokens)}
    return [ids[s] for s in symbols]


PAIRS = {  # llama.cpp's name: ours
    "token_embd.weight": "transformer.wte.weight",
    "position_embd.weight": "transformer.wpe.weight",
    "blk.1.attn_qkv.weight": "transformer.h.1.attn.c_attn.weight",
    "blk.0.attn_output.weight": "transformer.h.0.attn.c_proj.weight",
    "blk.0.ffn_up.weight": "transformer.h.0.mlp.c_fc.weight",
    "blk.0.ffn_down.weight": "transformer.h.0.mlp.c_proj.weight",
    "blk.1.ffn_norm.weight": "transformer.h.1.ln_2.weight",
    "output_norm.weight": "transformer.ln_f.weight",
}


def check_weights(reader: gguf.GGUFReader, checkpoint: dict, n_vocab: int, atol: float) -> None:
    state = checkpoint["model"]
    got = tensors(reader)
    assert got["token_embd.weight"].shape == (n_vocab, 64)
    for theirs, ours in PAIRS.items():
        want = state[ours].numpy()
        want = want[:n_vocab] if theirs == "token_embd.weight" else want
        np.testing.assert_allclose(got[theirs], want, atol=atol if want.ndim == 2 else 0)
    assert "output.weight" not in got  # tied: llama.cpp reuses token_embd
    assert len(got) == 4 + 2 * 12


@pytest.mark.slow
def test_gpt2_tokens_f32_exact(tmp_path: Path) -> None:
    tokenizer = get_tokenizer("gpt2")
    checkpoint = checkpoint_for(tokenizer, vocab_size=50304, bias=False)  # padded, no biases
    reader = export(tmp_path, checkpoint)
    check_weights(reader, checkpoint, 50257, atol=0)
    got = tensors(reader)
    assert not got["blk.0.attn_qkv.bias"].any() and got["blk.0.attn_qkv.bias"].shape == (192,)
    assert field(reader, "general.architecture") == "gpt2"
    assert field(reader, "gpt2.context_length") == 16
    assert field(reader, "gpt2.block_count") == 2
    assert field(reader, "gpt2.attention.head_count") == 2
    assert field(reader, "tokenizer.ggml.model") == "gpt2"
    assert field(reader, "tokenizer.ggml.pre") == "gpt-2"
    tokens = field(reader, "tokenizer.ggml.tokens")
    assert len(tokens) == 50257 and tokens[50256] == "<|endoftext|>"
    assert field(reader, "tokenizer.ggml.eos_token_id") == 50256
    types = field(reader, "tokenizer.ggml.token_type")
    assert types[50256] == CONTROL and set(types[:50256]) == {NORMAL}
    merges = field(reader, "tokenizer.ggml.merges")
    assert len(merges) == 50000
    for piece in ("ROMEO", " thee", " naïve", " 2026"):
        assert bpe_encode(piece, tokens, merges) == tokenizer.encode(piece), piece


def test_trained_bpe_f16(tmp_path: Path) -> None:
    tokenizer = train_bpe([shakespeare(20_000)], 300, end_of_text=True)
    checkpoint = checkpoint_for(tokenizer, vocab_size=320, bias=True)
    reader = export(tmp_path, checkpoint, "gguf-f16")
    check_weights(reader, checkpoint, 300, atol=2e-3)
    got = tensors(reader)
    bias = checkpoint["model"]["transformer.h.0.attn.c_attn.bias"].numpy()
    np.testing.assert_array_equal(got["blk.0.attn_qkv.bias"], bias)  # 1-D stays f32
    types = {t.name: t.tensor_type for t in reader.tensors}
    assert types["blk.0.ffn_up.weight"] == gguf.GGMLQuantizationType.F16
    assert types["output_norm.bias"] == gguf.GGMLQuantizationType.F32
    tokens = field(reader, "tokenizer.ggml.tokens")
    assert len(tokens) == 300 and tokens[299] == "<|endoftext|>"
    assert field(reader, "tokenizer.ggml.eos_token_id") == tokenizer.eot_id == 299
    merges = field(reader, "tokenizer.ggml.merges")
    for piece in ("ROMEO", " thee", " citizens", "!"):
        assert bpe_encode(piece, tokens, merges) == tokenizer.encode(piece), piece


def test_char_vocabulary_as_byte_level_bpe_q8_0(tmp_path: Path) -> None:
    tokenizer = get_tokenizer("char", chars=CHARS)
    checkpoint = checkpoint_for(tokenizer, vocab_size=len(CHARS), bias=True)
    reader = export(tmp_path, checkpoint, "gguf-q8_0")
    types = {t.name: t.tensor_type for t in reader.tensors}
    assert types["blk.0.attn_qkv.weight"] == gguf.GGMLQuantizationType.Q8_0  # rows of 64
    check_weights(reader, checkpoint, len(CHARS), atol=0.02)
    tokens = field(reader, "tokenizer.ggml.tokens")
    assert tokens[0] == "<|endoftext|>" and field(reader, "tokenizer.ggml.eos_token_id") == 0
    merges = field(reader, "tokenizer.ggml.merges")
    # every character, and a word of them, encodes to exactly our ids
    for text in [*CHARS[1:], "ROMEO: é€𝄞 aé"]:
        # one character per piece, and the whole text as one: no merge crosses characters
        ids = [i for char in text for i in bpe_encode(char, tokens, merges)]
        assert ids == tokenizer.encode(text), text
        assert bpe_encode(text, tokens, merges) == tokenizer.encode(text), text


def test_an_ascii_char_vocabulary_still_has_merges_for_llama_cpp(tmp_path: Path) -> None:
    """llama.cpp refuses a gpt2 vocabulary without the merges key (found by make
    llama-check); the one placeholder merge never applies to text."""
    ascii_chars = ["\0", "\n", " ", "R", "O", "M", "E", ":", "a"]
    tokenizer = get_tokenizer("char", chars=ascii_chars)
    reader = export(tmp_path, checkpoint_for(tokenizer, vocab_size=len(ascii_chars), bias=True))
    tokens = field(reader, "tokenizer.ggml.tokens")
    merges = field(reader, "tokenizer.ggml.merges")
    assert merges == [NO_MERGE]
    assert bpe_encode("ROMEO: a", tokens, merges) == tokenizer.encode("ROMEO: a")


def test_refusals(tmp_path: Path) -> None:
    modern = checkpoint_for(get_tokenizer("gpt2"), vocab_size=50304, bias=False, arch="modern")
    save_checkpoint(modern, tmp_path / LATEST)
    with pytest.raises(ConfigError, match=r"cannot be exported as GGUF: llama\.cpp has no") as err:
        export_checkpoint(tmp_path, "gguf", tmp_path / "out")
    assert err.value.field == "format"
    assert not (tmp_path / "out").exists()
    bare = checkpoint_for(get_tokenizer("gpt2"), vocab_size=50304, bias=False)
    bare.pop("tokenizer")
    save_checkpoint(bare, tmp_path / LATEST)
    with pytest.raises(ConfigError, match="carries no tokenizer"):
        export_checkpoint(tmp_path, "gguf-f16", tmp_path / "out")


def test_cli_writes_each_gguf_type(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from worker.cli import main as cli_main

    tokenizer = get_tokenizer("char", chars=CHARS)
    save_checkpoint(checkpoint_for(tokenizer, vocab_size=16, bias=False), tmp_path / LATEST)
    sizes = {}
    for fmt in ("gguf", "gguf-f16", "gguf-q8_0"):
        args = ["export", "--ckpt", str(tmp_path), "--format", fmt, "--out", str(tmp_path / fmt)]
        assert cli_main(args) == 0
        assert capsys.readouterr().out.strip() == str(tmp_path / fmt / "model.gguf")
        sizes[fmt] = (tmp_path / fmt / "model.gguf").stat().st_size
    assert sizes["gguf"] > sizes["gguf-f16"] > sizes["gguf-q8_0"]
