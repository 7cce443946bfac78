"""DDP through the command line (`train --nproc 2`: torchrun, gloo on the CPU): the loss of two
processes matches one with the same global batch, the checkpoint has no `module.` names and
resumes on one process, a resume on two is exact, and a killed rank ends the group."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from engine_helpers import prepared, shakespeare

from worker.engine.checkpoints.files import LATEST, load_checkpoint
from worker.engine.errors import ConfigError
from worker.engine.training.distributed import Ranks, from_env, rank_device, steps_per_rank

# Global batch: 2 micro-steps of 8 windows. Two processes take one micro-step each.
TINY = ["--device=cpu", "--dtype=float32", "--compile=false", "--n_layer=1", "--n_head=2",
        "--n_embd=16", "--block_size=16", "--batch_size=8", "--gradient_accumulation_steps=2",
        "--eval_iters=4", "--eval_interval=8", "--log_interval=4", "--learning_rate=1e-2",
        "--warmup_iters=2", "--lr_decay_iters=40", "--min_lr=3e-4", "--dropout=0.1"]  # fmt: skip
# Two processes draw other batches than one (each rank has its own stream), so the losses are
# close, not equal: after 8 steps they agree within this (measured: 0.004 at 40 steps).
LOSS_TOLERANCE = 0.05


def cli(*args: str | Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def trained(data: Path, out: Path, *extra: str, nproc: int = 1) -> dict:
    done = cli("train", "--nproc", str(nproc), "--data", data, "--out", out, *TINY, *extra)
    assert done.returncode == 0, done.stdout + done.stderr
    return load_checkpoint(out / LATEST)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepared(tmp_path_factory.mktemp("ddp"), shakespeare(20_000))


@pytest.fixture(scope="module")
def two_ranks(data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Runs on two processes both tests below start from (each copies what it changes):
    8 steps at once, and 4 steps to resume from."""
    root = tmp_path_factory.mktemp("two-ranks")
    trained(data, root / "eight", "--max_iters=8", nproc=2)
    trained(data, root / "four", "--max_iters=4", nproc=2)
    return {"eight": root / "eight", "four": root / "four"}


def copied(run: Path, to: Path) -> Path:
    shutil.copytree(run, to)
    return to


def test_ranks_from_torchrun_environment() -> None:
    assert from_env({}) == Ranks()
    ranks = from_env({"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2"})
    assert (ranks.rank, ranks.world_size, ranks.is_master, ranks.several) == (1, 2, False, True)
    assert steps_per_rank(40, 8) == 5
    with pytest.raises(ConfigError, match=r"multiple of the number of processes \(3\)") as err:
        steps_per_rank(40, 3)
    assert err.value.field == "gradient_accumulation_steps"
    assert rank_device("auto", ranks) == "cpu"  # no GPU here: gloo on the CPU
    with pytest.raises(ConfigError, match="names one GPU") as err:
        rank_device("cuda:1", ranks)
    assert err.value.field == "device"


@pytest.mark.slow
def test_two_processes_train_like_one_and_resume(
    data: Path, two_ranks: dict[str, Path], tmp_path: Path
) -> None:
    one = trained(data, tmp_path / "one", "--max_iters=8")
    two = load_checkpoint(copied(two_ranks["eight"], tmp_path / "two") / LATEST)
    assert two["iter_num"] == one["iter_num"] == 8
    print("val loss: one process", one["val_loss"], "two", two["val_loss"])
    assert abs(two["val_loss"] - one["val_loss"]) < LOSS_TOLERANCE
    assert two["val_loss"] < 3.6  # it learned (a fresh model is at ln(vocab) ≈ 4.1)
    # nanoGPT's names: the plain module was saved, not DDP's wrapper
    assert not [name for name in two["model"] if name.startswith("module.")]
    assert set(two["model"]) == set(one["model"])
    assert two["resume"]["world_size"] == 2 and len(two["resume"]["ranks"]) == 1

    # Exact resume on the same world size: 4 steps, then 4 more, equals 8 at once.
    split = copied(two_ranks["four"], tmp_path / "split")
    resumed = trained(data, split, "--max_iters=8", "--init_from=resume", nproc=2)
    for name, tensor in two["model"].items():
        assert torch.equal(tensor, resumed["model"][name]), name

    # An N-rank checkpoint resumes on one process.
    solo = trained(data, tmp_path / "two", "--max_iters=10", "--init_from=resume")
    assert solo["iter_num"] == 10 and "world_size" not in solo["resume"]


@pytest.mark.slow
def test_two_processes_fall_back_together_when_compiling_fails(
    data: Path, two_ranks: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resume between evaluations compiles first in a training step, on both ranks; with no
    usable C++ compiler (CXX names one that is not) it fails for real on each, both undo the
    step, wrap DDP again around the plain model, and end with an eager run's exact weights."""
    eager = load_checkpoint(two_ranks["eight"] / LATEST)
    split = copied(two_ranks["four"], tmp_path / "split")
    monkeypatch.setenv("CXX", "/bin/false")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor-cache"))
    args = ["--max_iters=8", "--init_from=resume", "--compile=true"]
    done = cli("train", "--nproc", "2", "--data", data, "--out", split, *TINY, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    said = (done.stdout + done.stderr).count("torch.compile failed (")
    assert said == 1  # by rank 0, once
    resumed = load_checkpoint(split / LATEST)
    for name, tensor in eager["model"].items():
        assert torch.equal(tensor, resumed["model"][name]), name


def test_accumulation_that_does_not_divide_is_refused(data: Path, tmp_path: Path) -> None:
    done = cli("train", "--nproc", "2", "--data", data, "--out", tmp_path, *TINY,
               "--gradient_accumulation_steps=3", "--max_iters=2")  # fmt: skip
    assert done.returncode != 0
    assert "gradient_accumulation_steps: gradient_accumulation_steps (3) must be a multiple" in (
        done.stderr
    )


def _rank_pids(root: int) -> dict[int, int]:
    """{rank: pid} of the processes below `root` that torchrun gave a RANK."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = {}, [root]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            todo.append(child)
            try:
                env = (Path("/proc") / str(child) / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            for item in env:
                if item.startswith(b"RANK="):
                    found[int(item[5:])] = child
    return found


@pytest.mark.slow
def test_a_killed_rank_ends_the_group(data: Path, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "train", "--nproc", "2", "--data", str(data),
         "--out", str(tmp_path), *TINY, "--max_iters=100000", "--eval_interval=100000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("iter "):
                break  # training: both ranks are in the group
        ranks = _rank_pids(process.pid)
        assert set(ranks) == {0, 1}, ranks
        os.kill(ranks[1], signal.SIGKILL)
        code = process.wait(timeout=90)
        assert code != 0  # the run failed, as a lost process does
        deadline = time.monotonic() + 10
        while Path(f"/proc/{ranks[0]}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Path(f"/proc/{ranks[0]}").exists(), "rank 0 outlived the group"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
