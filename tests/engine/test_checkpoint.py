"""Checkpoints: nanoGPT's keys, atomic writes, and loads that never run code."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from engine_helpers import prepared, shakespeare, tiny_config

from worker.engine.checkpoints.files import (
    BEST,
    LATEST,
    checkpoint_summary,
    clean_state_dict,
    load_checkpoint,
    save_checkpoint,
)
from worker.engine.errors import DataError
from worker.engine.model.gpt import GPT, GPTConfig
from worker.engine.training.loop import train

NANOGPT_MODEL_ARGS = {"n_layer", "n_head", "n_embd", "block_size", "bias", "vocab_size", "dropout"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("ckpt")
    data = prepared(tmp, shakespeare(30_000))
    train(tiny_config(data, tmp / "out", max_iters=20, eval_interval=10))
    return tmp / "out"


def test_checkpoint_has_nanogpts_keys_and_our_tokenizer(trained: Path) -> None:
    ckpt = load_checkpoint(trained / LATEST)
    assert {"model", "optimizer", "model_args", "iter_num", "best_val_loss", "config"} <= set(ckpt)
    assert set(ckpt["model_args"]) == NANOGPT_MODEL_ARGS
    assert ckpt["iter_num"] == 20 and ckpt["config"]["dataset"] == "data-char"
    assert ckpt["tokenizer"]["kind"] == "char"
    assert not any(k.startswith("_orig_mod.") for k in ckpt["model"])
    assert (trained / BEST).is_file()


def test_nanogpt_style_loading_works(trained: Path) -> None:
    """What nanoGPT's sample.py does: GPTConfig(**model_args), strip prefixes, strict load."""
    ckpt = torch.load(trained / LATEST, map_location="cpu")  # torch's default: weights_only
    model = GPT(GPTConfig(**ckpt["model_args"]))
    model.load_state_dict(clean_state_dict(ckpt["model"]), strict=True)


def test_loads_with_weights_only_in_a_fresh_process(trained: Path) -> None:
    code = (
        "import sys, torch; c = torch.load(sys.argv[1], map_location='cpu', weights_only=True);"
        "print(c['iter_num'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(trained / LATEST)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "20"


def test_summary_reports_iteration_and_size(trained: Path) -> None:
    summary = checkpoint_summary(trained)
    assert summary["iter_num"] == 20 and summary["size_bytes"] > 0
    assert summary["val_loss"] is not None


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / LATEST
    save_checkpoint({"a": torch.ones(2)}, path)
    with pytest.raises(Exception):  # noqa: B017 - whatever torch.save raises for a lambda
        save_checkpoint({"a": lambda: None}, path)
    assert torch.load(path, weights_only=True)["a"].tolist() == [1.0, 1.0]
    assert [p.name for p in tmp_path.iterdir()] == [LATEST]


class _RunsCode:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("touch PWNED",))


def test_pickled_code_is_refused_without_running(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.pt"
    torch.save({"model": _RunsCode()}, evil)
    with pytest.raises(DataError, match="not a readable checkpoint"):
        load_checkpoint(evil)
    assert not (tmp_path / "PWNED").exists()


def test_other_files_are_refused_with_a_reason(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(DataError, match="not a readable checkpoint"):
        load_checkpoint(junk)
    partial = tmp_path / "partial.pt"
    torch.save({"model": {}}, partial)
    with pytest.raises(DataError, match="lacks checkpoint keys: model_args"):
        load_checkpoint(partial)
    listed = tmp_path / "list.pt"
    with listed.open("wb") as f:
        pickle.dump([1, 2], f, protocol=2)
    with pytest.raises(DataError):
        load_checkpoint(listed)


def test_clean_state_dict_strips_compile_prefix() -> None:
    cleaned = clean_state_dict({"_orig_mod.lm_head.weight": torch.ones(1), "x": torch.ones(1)})
    assert set(cleaned) == {"lm_head.weight", "x"}
