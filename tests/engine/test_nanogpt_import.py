"""nanoGPT checkpoints in: a ckpt.pt in nanoGPT's exact layout (a compiled run's
`_orig_mod.` names, AdamW state, a tensor best_val_loss, its config globals) plus the
meta.pkl its prepare.py writes imports, samples and resumes; a pickle that carries code is
refused without running it."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from engine_helpers import prepared, shakespeare, tiny_config
from hf_helpers import all_logits, ours_from_state

from worker.engine.checkpoints.files import LATEST, load_checkpoint
from worker.engine.checkpoints.nanogpt_import import import_nanogpt
from worker.engine.checkpoints.safe_pickle import load_plain_pickle, read_meta_pkl
from worker.engine.config.train_config import TrainConfig
from worker.engine.errors import ConfigError, DataError
from worker.engine.model.gpt import GPT, GPTConfig
from worker.engine.sampling.sample import SampleOptions, load_sampler
from worker.engine.training.loop import train
from worker.engine.training.optimizers import adamw

TEXT_CHARS = 30_000


def nanogpt_config(**changes: Any) -> dict[str, Any]:
    """The globals nanoGPT's train.py saves as checkpoint['config'] (train_shakespeare_char)."""
    config = {
        "out_dir": "out-shakespeare-char", "eval_interval": 250, "log_interval": 10,
        "eval_iters": 200, "eval_only": False, "always_save_checkpoint": False,
        "init_from": "scratch", "wandb_log": False, "wandb_project": "shakespeare-char",
        "wandb_run_name": "mini-gpt", "dataset": "shakespeare_char",
        "gradient_accumulation_steps": 1, "batch_size": 64, "block_size": 32, "n_layer": 2,
        "n_head": 2, "n_embd": 32, "dropout": 0.2, "bias": False, "learning_rate": 1e-3,
        "max_iters": 5000, "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.99, "grad_clip": 1.0,
        "decay_lr": True, "warmup_iters": 100, "lr_decay_iters": 5000, "min_lr": 1e-4,
        "backend": "nccl", "device": "cuda", "dtype": "bfloat16", "compile": True,
    }  # fmt: skip
    return {**config, **changes}


def write_nanogpt_run(folder: Path, text: str, **model_changes: Any) -> tuple[Path, Path, GPT]:
    """ckpt.pt and meta.pkl exactly as nanoGPT's train.py and prepare.py write them."""
    chars = sorted(set(text))
    stoi = {ch: i for i, ch in enumerate(chars)}
    itos = dict(enumerate(chars))
    model_args = {"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 32, "bias": False,
                  "vocab_size": len(chars), "dropout": 0.2, **model_changes}  # fmt: skip
    torch.manual_seed(0)
    model = GPT(GPTConfig(**model_args))
    cfg = TrainConfig(weight_decay=0.1, learning_rate=1e-3, beta1=0.9, beta2=0.99)
    optimizer = adamw(model, cfg, "cpu")  # nanoGPT's configure_optimizers, as we build it
    ids = torch.tensor([stoi[c] for c in text[:4000]])
    for step in range(3):  # a few steps, so the optimizer has moments to carry over
        x = torch.stack([ids[i : i + 32] for i in range(step, 400, 50)])
        y = torch.stack([ids[i + 1 : i + 33] for i in range(step, 400, 50)])
        _, loss = model(x, y)
        assert loss is not None
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    model.eval()
    checkpoint = {
        # torch.compile'd model's state_dict: every name under _orig_mod.
        "model": {f"_orig_mod.{k}": v for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "model_args": model_args,
        "iter_num": 250,
        "best_val_loss": torch.tensor(2.4817),  # estimate_loss() returns tensors
        "config": nanogpt_config(),
    }
    folder.mkdir(parents=True)
    torch.save(checkpoint, folder / "ckpt.pt")
    with (folder / "meta.pkl").open("wb") as f:
        pickle.dump({"vocab_size": len(chars), "itos": itos, "stoi": stoi}, f)
    return folder / "ckpt.pt", folder / "meta.pkl", model


class RunsACommand:
    """Unpickling this calls os.system: what a malicious pickle does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def text() -> str:
    return shakespeare(TEXT_CHARS)


@pytest.fixture(scope="module")
def nanogpt_run(tmp_path_factory: pytest.TempPathFactory, text: str) -> tuple[Path, Path, GPT]:
    return write_nanogpt_run(tmp_path_factory.mktemp("nanoGPT") / "out-shakespeare-char", text)


def test_imports_samples_and_resumes(
    nanogpt_run: tuple[Path, Path, GPT], text: str, tmp_path: Path
) -> None:
    ckpt, meta, model = nanogpt_run
    run = tmp_path / "run"
    result = import_nanogpt(ckpt, run, meta_path=meta)
    assert result.checkpoint == run / LATEST and result.iter_num == 250 and not result.notes
    assert result.tokenizer == {"kind": "char", "chars": sorted(set(text))}
    saved = load_checkpoint(run)
    assert "optimizer" in saved and saved["best_val_loss"] == pytest.approx(2.4817)
    assert not any(k.startswith("_orig_mod.") for k in saved["model"])
    assert saved["config"]["dataset"] == "shakespeare_char"

    # samples: the same model, speaking in its own characters
    idx = torch.tensor([[result.tokenizer["chars"].index(c) for c in "ROMEO:"]])
    imported = ours_from_state(saved["model_args"], saved["model"])
    torch.testing.assert_close(all_logits(imported, idx), all_logits(model, idx))
    sampler = load_sampler(run, device="cpu")
    sample = sampler.generate("ROMEO:", SampleOptions(max_new_tokens=60, seed=3))[0]
    assert sample.startswith("ROMEO:") and len(sample) == 66
    assert set(sample) <= set(text)

    # resumes: iteration, optimizer and weights carry on (the data has the same characters)
    data = prepared(tmp_path, text, "char")
    cfg = tiny_config(data, run, init_from="resume", max_iters=260, eval_interval=5,
                      dropout=0.2)  # fmt: skip
    done = train(cfg)
    assert done.status == "completed" and done.iter_num == 260
    after = load_checkpoint(run)
    assert after["iter_num"] == 260 and after["tokenizer"] == result.tokenizer


def test_gpt2_vocabulary_needs_no_meta(tmp_path: Path, text: str) -> None:
    ckpt, _, _ = write_nanogpt_run(tmp_path / "gpt2", text, vocab_size=50304, n_embd=16)
    result = import_nanogpt(ckpt, tmp_path / "run")
    assert result.tokenizer == {"kind": "gpt2"}
    sample = load_sampler(tmp_path / "run", device="cpu").generate("Hello", SampleOptions(20))
    assert sample[0].startswith("Hello")


def test_small_vocabulary_without_meta_asks_for_it(
    nanogpt_run: tuple[Path, Path, GPT], tmp_path: Path
) -> None:
    with pytest.raises(DataError, match=r"data/shakespeare_char/meta\.pkl") as caught:
        import_nanogpt(nanogpt_run[0], tmp_path / "run")
    assert caught.value.field == "meta" and not (tmp_path / "run").exists()


def test_meta_pkl_carrying_code_is_refused_without_running_it(
    nanogpt_run: tuple[Path, Path, GPT], tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "meta.pkl"
    meta = {"vocab_size": 2, "itos": {0: "a", 1: "b"}, "stoi": RunsACommand(marker)}
    evil.write_bytes(pickle.dumps(meta))
    with pytest.raises(DataError, match=r"refused to load (posix|os)\.system") as caught:
        import_nanogpt(nanogpt_run[0], tmp_path / "run", meta_path=evil)
    assert caught.value.field == "meta"
    assert not marker.exists() and not (tmp_path / "run").exists()
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):  # every opcode dialect
        with pytest.raises(pickle.UnpicklingError, match="refused"):
            load_plain_pickle(pickle.dumps(RunsACommand(marker), protocol=protocol))
        with pytest.raises(pickle.UnpicklingError, match="refused"):
            load_plain_pickle(pickle.dumps({"f": os.system}, protocol=protocol))
    assert not marker.exists()


def test_meta_pkl_must_be_a_char_vocabulary(tmp_path: Path) -> None:
    cases = [
        ({"vocab_size": 2, "itos": {0: "a", 1: "b"}, "stoi": {"a": 1, "b": 0}}, "inverse"),
        ({"vocab_size": 3, "itos": {0: "a", 1: "b"}}, "vocab_size 3"),
        ({"itos": {0: "ab"}}, "single characters"),
        ({"itos": {1: "a"}}, "0..n-1"),
        (["a", "b"], "expected a dict"),
    ]
    for meta, words in cases:
        (tmp_path / "meta.pkl").write_bytes(pickle.dumps(meta))
        with pytest.raises(DataError, match=words):
            read_meta_pkl(tmp_path / "meta.pkl")
    (tmp_path / "meta.pkl").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match=r"not a plain-data meta\.pkl"):
        read_meta_pkl(tmp_path / "meta.pkl")


def test_checkpoint_carrying_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    torch.save({"model": {}, "model_args": {}, "hook": RunsACommand(marker)}, tmp_path / "x.pt")
    with pytest.raises(DataError, match="weights_only=True refused it") as caught:
        import_nanogpt(tmp_path / "x.pt", tmp_path / "run")
    assert caught.value.field == "ckpt" and not marker.exists()


def test_weights_that_do_not_fit_model_args_are_named(
    nanogpt_run: tuple[Path, Path, GPT], tmp_path: Path
) -> None:
    checkpoint = torch.load(nanogpt_run[0], weights_only=True)
    checkpoint["model_args"]["n_embd"] = 64
    torch.save(checkpoint, tmp_path / "ckpt.pt")
    with pytest.raises(DataError, match=r"transformer\.wte\.weight has shape \(\d+, 32\)"):
        import_nanogpt(tmp_path / "ckpt.pt", tmp_path / "run", meta_path=nanogpt_run[1])


def test_import_never_overwrites_a_run(nanogpt_run: tuple[Path, Path, GPT], tmp_path: Path) -> None:
    ckpt, meta, _ = nanogpt_run
    import_nanogpt(ckpt, tmp_path, meta_path=meta)
    with pytest.raises(ConfigError) as caught:
        import_nanogpt(ckpt, tmp_path, meta_path=meta)
    assert caught.value.field == "out_dir"


@pytest.mark.slow
def test_cli_import_then_sample(nanogpt_run: tuple[Path, Path, GPT], tmp_path: Path) -> None:
    ckpt, meta, _ = nanogpt_run

    def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "worker.cli", *map(str, args)]
        return subprocess.run(command, capture_output=True, text=True)

    done = cli("import-nanogpt", ckpt, "--meta", meta, "--out", tmp_path / "run")
    assert done.returncode == 0, done.stderr
    assert "2 layers × 32 dims" in done.stdout and "(char), iteration 250" in done.stdout
    sampled = cli("sample", "--ckpt", tmp_path / "run", "--start", "First", "--max_new_tokens=10")
    assert sampled.returncode == 0, sampled.stderr
    assert sampled.stdout.startswith("First")
