"""Fine-tuning from GPT-2 weights: the loss falls, checkpoints remember the source and the
real shape, and a fine-tune resumes like any run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from engine_helpers import prepared, shakespeare, tiny_config
from hf_helpers import tiny_hf_gpt2
from safetensors.torch import load_file

from worker.engine.checkpoints.files import LATEST, load_checkpoint
from worker.engine.events import StartInfo, StepEvent, TrainCallbacks
from worker.engine.training.loop import train


class Evals(TrainCallbacks):
    def __init__(self) -> None:
        self.evals: list[StepEvent] = []
        self.starts: list[int] = []

    def on_step(self, event: StepEvent) -> None:
        if event.evaluated:
            self.evals.append(event)

    def on_start(self, info: StartInfo) -> None:
        self.starts.append(info.start_iter)


@pytest.fixture(scope="module")
def gpt2_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepared(tmp_path_factory.mktemp("shakespeare"), shakespeare(60_000), "gpt2")


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-gpt2")
    tiny_hf_gpt2(folder)
    return folder


@pytest.mark.slow
def test_finetune_lowers_the_loss_and_resumes(
    gpt2_data: Path, hf_folder: Path, tmp_path: Path
) -> None:
    # the shape knobs here differ from the weights' (2 layers × 32, bias): the weights win
    knobs = {"init_from": str(hf_folder), "n_layer": 6, "n_head": 4, "n_embd": 48,
             "bias": False, "dropout": 0.1, "max_iters": 30, "eval_interval": 15,
             "batch_size": 4, "lr_decay_iters": 30}  # fmt: skip
    events = Evals()
    train(tiny_config(gpt2_data, tmp_path, **knobs), events)
    assert [e.iter for e in events.evals] == [0, 15, 30]
    assert events.evals[-1].val_loss < events.evals[0].val_loss - 1.0

    checkpoint = load_checkpoint(tmp_path / LATEST)
    assert checkpoint["model_args"] == {
        "n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 32, "bias": True,
        "vocab_size": 50257, "dropout": 0.1,
    }  # fmt: skip
    config = checkpoint["config"]
    assert config["init_from"] == str(hf_folder)
    assert (config["n_layer"], config["n_embd"], config["bias"]) == (2, 32, True)
    assert checkpoint["tokenizer"] == {"kind": "gpt2"}
    # the weights moved away from GPT-2's
    start = load_file(hf_folder / "model.safetensors")["transformer.wte.weight"]
    assert not torch.equal(checkpoint["model"]["transformer.wte.weight"], start)

    resumed = Evals()
    train(tiny_config(gpt2_data, tmp_path, **{**knobs, "init_from": "resume", "max_iters": 36,
                                              "eval_interval": 18}), resumed)  # fmt: skip
    assert resumed.starts == [30] and [e.iter for e in resumed.evals] == [36]
    again = load_checkpoint(tmp_path / LATEST)
    assert again["iter_num"] == 36 and again["config"]["init_from"] == str(hf_folder)


@pytest.mark.slow
def test_cli_train_init_from_a_folder(gpt2_data: Path, hf_folder: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "worker.cli", "train", "--data", str(gpt2_data),
         "--out", str(tmp_path), f"--init_from={hf_folder}", "--device=cpu", "--compile=false",
         "--block_size=32", "--batch_size=4", "--gradient_accumulation_steps=1",
         "--max_iters=4", "--eval_interval=4", "--eval_iters=2", "--learning_rate=1e-3",
         "--decay_lr=false", "--min_lr=0"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "completed at iteration 4" in done.stdout
    assert load_checkpoint(tmp_path / LATEST)["model_args"]["n_layer"] == 2
