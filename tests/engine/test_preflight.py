"""Preflight names the field at fault before any work starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_helpers import prepared, shakespeare, tiny_config

from worker.engine.config.preflight import find_problems, preflight
from worker.engine.errors import ConfigError, DataError
from worker.engine.training.loop import train

META = {"train_tokens": 1000, "val_tokens": 100, "tokenizer": {"kind": "char", "chars": ["a"]}}


def fields(cfg, meta=META) -> list[str | None]:
    return [p.field for p in find_problems(cfg, meta)]


def test_a_good_config_passes(tmp_path: Path) -> None:
    preflight(tiny_config(tmp_path, tmp_path), META)


def test_n_embd_must_divide_by_n_head(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"n_embd \(30\) must be divisible by n_head \(4\)"):
        preflight(tiny_config(tmp_path, tmp_path, n_embd=30, n_head=4), META)


def test_block_size_longer_than_a_split_says_what_fits(tmp_path: Path) -> None:
    with pytest.raises(DataError) as caught:
        preflight(tiny_config(tmp_path, tmp_path, block_size=100), META)
    assert caught.value.field == "block_size"
    assert "the validation split has 100" in caught.value.message
    assert "largest block_size that fits both splits is 99" in caught.value.message


def test_lr_decay_must_end_after_warmup(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, tmp_path, warmup_iters=100, lr_decay_iters=100)
    assert fields(cfg) == ["lr_decay_iters"]
    assert fields(tiny_config(tmp_path, tmp_path, warmup_iters=100, lr_decay_iters=50,
                              decay_lr=False)) == []  # fmt: skip


@pytest.mark.parametrize(
    ("knob", "value"),
    [("batch_size", 0), ("n_layer", 0), ("max_iters", 0), ("eval_iters", 0),
     ("dropout", 1.0), ("learning_rate", 0.0), ("beta2", 1.0), ("grad_clip", -1.0),
     ("weight_decay", -0.1), ("min_lr", -1.0), ("init_from", "yesterday"), ("device", "tpu"),
     ("dtype", "float8")],
)  # fmt: skip
def test_each_bad_knob_is_named(tmp_path: Path, knob: str, value: object) -> None:
    assert knob in fields(tiny_config(tmp_path, tmp_path, **{knob: value}))


def test_all_problems_are_reported_together(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, tmp_path, n_embd=30, n_head=4, batch_size=0, block_size=5000)
    assert fields(cfg) == ["batch_size", "n_embd", "block_size"]


def test_missing_data_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no prepared data") as caught:
        preflight(tiny_config(tmp_path / "nothing", tmp_path))
    assert caught.value.field == "data_dir"


def test_resume_refuses_other_tokenizer_and_other_shape(tmp_path: Path) -> None:
    text = shakespeare(20_000)
    char_data = prepared(tmp_path, text)
    train(tiny_config(char_data, tmp_path / "out", max_iters=10, eval_interval=10))
    gpt2_data = prepared(tmp_path, text, tokenizer="gpt2")
    with pytest.raises(DataError, match="different tokenizer") as caught:
        preflight(tiny_config(gpt2_data, tmp_path / "out", init_from="resume", block_size=16))
    assert caught.value.field == "data_dir"
    other_shape = tiny_config(char_data, tmp_path / "out", init_from="resume", n_layer=3)
    with pytest.raises(ConfigError, match="trained with n_layer=2") as caught:
        preflight(other_shape)
    assert caught.value.field == "n_layer"
