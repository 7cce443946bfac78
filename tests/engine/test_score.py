"""Scoring a text with a checkpoint (worker/engine/sampling/score.py): the loss of every
token from the tokens before it in its window, against a direct computation; a model that
knows nothing scores ln(vocab) per token; bits per character; refusals; the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from worker.cli import main as cli_main
from worker.engine.checkpoints.files import LATEST, save_checkpoint
from worker.engine.errors import DataError
from worker.engine.model.build import build_model
from worker.engine.sampling.sample import load_sampler
from worker.engine.sampling.score import BATCH_WINDOWS, score_text
from worker.engine.tokenizers.base import Tokenizer
from worker.engine.tokenizers.load import get_tokenizer

BLOCK = 8
CHARS = ["\0", "\n", " ", "a", "b", "c", "d", "e"]


def run_with(folder: Path, tokenizer: Tokenizer, vocab_size: int, *, arch: str = "gpt2") -> Path:
    torch.manual_seed(0)
    args = {"n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": BLOCK, "bias": True,
            "vocab_size": vocab_size, "dropout": 0.0}  # fmt: skip
    if arch != "gpt2":
        args = {**args, "arch": arch, "bias": False}
    model = build_model(args)
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0.0, 0.5)
    checkpoint = {"model": model.state_dict(), "model_args": args, "iter_num": 5,
                  "best_val_loss": 2.0, "config": {}, "tokenizer": tokenizer.to_meta()}  # fmt: skip
    save_checkpoint(checkpoint, folder / LATEST)
    return folder


def direct_nats(sampler, ids: list[int]) -> float:
    """Each window of BLOCK tokens alone, one forward each: the sum of -log p(next)."""
    total = 0.0
    for start in range(0, len(ids) - 1, BLOCK):
        x = torch.tensor([ids[start : start + BLOCK]])
        y = torch.tensor([ids[start + 1 : start + BLOCK + 1]])
        x = x[:, : y.size(1)]
        logits, _ = sampler.model(x, y)
        total += F.cross_entropy(logits[0], y[0], reduction="sum").item()
    return total


@pytest.mark.parametrize("arch", ["gpt2", "modern"])
def test_every_token_is_scored_from_its_window(tmp_path: Path, arch: str) -> None:
    tokenizer = get_tokenizer("char", chars=CHARS)
    sampler = load_sampler(run_with(tmp_path, tokenizer, len(CHARS), arch=arch), device="cpu")
    # documents, more windows than one batch holds, and a last window cut short
    text = ("abc de\nbad\0" * 9)[: BLOCK * (BATCH_WINDOWS + 2) - 3]
    seen: list[tuple[int, int]] = []
    score = score_text(sampler, text, progress=lambda done, total: seen.append((done, total)))
    ids = [tokenizer.start_id, *tokenizer.encode_bulk(text).tolist()]
    assert score.tokens == len(text) and score.characters == len(text)
    nats = direct_nats(sampler, ids)
    assert score.loss == pytest.approx(nats / score.tokens, rel=1e-5)
    assert score.perplexity == pytest.approx(math.exp(score.loss), rel=1e-9)
    assert score.bits_per_char == pytest.approx(nats / math.log(2) / len(text), rel=1e-5)
    assert seen == [(BATCH_WINDOWS, 10), (10, 10)]  # 77 tokens: 10 windows of 8


def test_a_model_that_knows_nothing_scores_ln_vocab(tmp_path: Path) -> None:
    tokenizer = get_tokenizer("gpt2")
    sampler = load_sampler(run_with(tmp_path, tokenizer, 50304), device="cpu")
    with torch.no_grad():
        sampler.model.lm_head.weight.zero_()  # every logit 0: uniform over the padded vocab
    text = "To be, or not to be, that is the question."
    score = score_text(sampler, text)
    assert score.tokens == len(tokenizer.encode(text))  # after the start token: each predicted
    assert score.loss == pytest.approx(math.log(50304), rel=1e-6)
    assert score.perplexity == pytest.approx(50304, rel=1e-5)
    bits = score.tokens * math.log2(50304) / len(text)  # GPT-2 tokens hold several characters
    assert score.bits_per_char == pytest.approx(bits, rel=1e-6)


def test_refusals(tmp_path: Path) -> None:
    tokenizer = get_tokenizer("char", chars=CHARS)
    sampler = load_sampler(run_with(tmp_path, tokenizer, len(CHARS)), device="cpu")
    with pytest.raises(DataError, match="empty"):
        score_text(sampler, "")
    with pytest.raises(DataError, match="characters not in this model's vocabulary: 'z'"):
        score_text(sampler, "abz")


def test_cli_prints_the_apis_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tokenizer = get_tokenizer("char", chars=CHARS)
    run = run_with(tmp_path / "run", tokenizer, len(CHARS))
    (tmp_path / "eval.txt").write_text("abc de\nbad", encoding="utf-8")
    assert (
        cli_main(["evaluate", "--ckpt", str(run), "--device", "cpu", str(tmp_path / "eval.txt")])
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    want = score_text(load_sampler(run, device="cpu"), "abc de\nbad")
    figures = {
        "loss": want.loss,
        "perplexity": want.perplexity,
        "bits_per_char": want.bits_per_char,
    }
    assert printed == {"iter": 5, **figures, "tokens": 10, "characters": 10}
    (tmp_path / "bad.txt").write_text("xyz", encoding="utf-8")
    assert cli_main(["evaluate", "--ckpt", str(run), str(tmp_path / "bad.txt")]) == 2
    assert "'x'" in capsys.readouterr().err
