"""Training speed and quality against nanoGPT's train.py on the same machine.

    python bench/train_speed.py --recipe tiny [--nanogpt /path/to/nanoGPT] [--iters 2000]
    python bench/train_speed.py --recipe shakespeare-char --iters 30 [--nanogpt PATH]

`tiny` is nanoGPT README's CPU recipe (4 layers, 4 heads, 128 dims, block 64, batch 12,
dropout 0, eval_iters 20); `shakespeare-char` is nanoGPT's config/train_shakespeare_char.py
model (6 layers, 6 heads, 384 dims, block 256). With --nanogpt, nanoGPT's own train.py runs
the same recipe from that checkout (its data/shakespeare_char prepared), for tokens/s and loss
side by side. Prints one line per engine; tokens/s is the median over logged steps after the
first five. "val loss" is each engine's own last evaluation (eval_iters random or fixed
batches); "full val" scores both final models on every token of the same val split.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from worker.engine.checkpoints.files import clean_state_dict, load_checkpoint
from worker.engine.config.presets import preset_config
from worker.engine.data.prepare import prepare, token_memmap
from worker.engine.events import StepEvent, TrainCallbacks
from worker.engine.model.build import build_model
from worker.engine.training.loop import train
from worker.engine.wait_policy import unchosen_environment

ROOT = Path(__file__).resolve().parents[1]
SHAKESPEARE = ROOT / "app" / "sample_data" / "tinyshakespeare.txt"

RECIPES: dict[str, dict[str, object]] = {
    "tiny": {"preset": "tiny-cpu", "eval_interval": 250},
    "shakespeare-char": {"preset": "shakespeare-char", "eval_interval": 10_000, "eval_iters": 5},
}


class Collect(TrainCallbacks):
    def __init__(self) -> None:
        self.logs: list[StepEvent] = []
        self.evals: list[StepEvent] = []

    def on_step(self, event: StepEvent) -> None:
        if event.logged:
            self.logs.append(event)
        if event.evaluated:
            self.evals.append(event)
            print(f"  ours step {event.iter}: val loss {event.val_loss:.4f}", flush=True)


def run_ours(recipe: str, iters: int, workdir: Path) -> dict[str, float]:
    data = workdir / "data"
    if not (data / "meta.json").exists():
        prepare(SHAKESPEARE, data, tokenizer="char")
    shutil.rmtree(workdir / f"out-{recipe}", ignore_errors=True)  # from an earlier round
    knobs = dict(RECIPES[recipe])
    preset = str(knobs.pop("preset"))
    cfg = preset_config(
        preset,
        {
            **knobs,
            "data_dir": str(data),
            "out_dir": str(workdir / f"out-{recipe}"),
            "max_iters": iters,
            "lr_decay_iters": max(iters, 2) if recipe == "tiny" else 5000,
            "log_interval": 1,
            "device": "cpu",
            "compile": False,
            "always_save_checkpoint": False,
        },
    )
    collect = Collect()
    started = time.perf_counter()
    result = train(cfg, collect)
    wall = time.perf_counter() - started
    assert result.checkpoint is not None
    steady = [e.tokens_per_sec for e in collect.logs[5:]] or [collect.logs[-1].tokens_per_sec]
    return {
        "tokens_per_sec": statistics.median(steady),
        "final_loss": collect.logs[-1].loss,
        "val_loss": collect.evals[-1].val_loss if collect.evals else float("nan"),
        "full_val_loss": full_val_loss(result.checkpoint, data),
        "wall_s": wall,
    }


@torch.no_grad()
def full_val_loss(checkpoint: Path, data: Path) -> float:
    """Mean loss over the whole val split in non-overlapping windows: no sampling noise.

    Works for nanoGPT's checkpoints too (same parameter names), so both engines' final
    models are scored on exactly the same tokens.
    """
    ckpt = load_checkpoint(checkpoint)
    model = build_model({**ckpt["model_args"], "dropout": 0.0})
    model.load_state_dict(clean_state_dict(ckpt["model"]))
    model.eval()
    block = model.config.block_size
    tokens = torch.from_numpy(token_memmap(data, "val").astype("int64"))
    windows = tokens[: (len(tokens) - 1) // block * block + 1]
    x = windows[:-1].view(-1, block)
    y = windows[1:].view(-1, block)
    total = 0.0
    for start in range(0, len(x), 64):
        _, loss = model(x[start : start + 64], y[start : start + 64])
        total += float(loss) * len(x[start : start + 64])
    return total / len(x)


NANOGPT_ITER = re.compile(r"^iter (\d+): loss ([\d.]+), time ([\d.]+)ms")
NANOGPT_STEP = re.compile(r"^step (\d+): train loss ([\d.]+), val loss ([\d.]+)")


def run_nanogpt(recipe: str, iters: int, checkout: Path, workdir: Path) -> dict[str, float]:
    shutil.rmtree(workdir / "nanogpt-out", ignore_errors=True)  # from an earlier round
    knobs = {
        "tiny": [
            "--eval_iters=20", "--log_interval=1", "--block_size=64", "--batch_size=12",
            "--n_layer=4", "--n_head=4", "--n_embd=128", f"--lr_decay_iters={max(iters, 2)}",
            "--dropout=0.0",
        ],
        "shakespeare-char": ["--eval_iters=5", "--eval_interval=10000", "--log_interval=1"],
    }[recipe]  # fmt: skip
    command = [
        sys.executable, "train.py", "config/train_shakespeare_char.py", "--device=cpu",
        "--compile=False", "--wandb_log=False", f"--max_iters={iters}",
        f"--out_dir={workdir / 'nanogpt-out'}", *knobs,
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=checkout, capture_output=True, text=True, env=unchosen_environment()
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"nanoGPT's train.py failed:\n{done.stderr[-2000:]}")
    times, losses, vals = [], [], []
    for line in done.stdout.splitlines():
        if match := NANOGPT_ITER.match(line):
            losses.append(float(match[2]))
            times.append(float(match[3]) / 1000)
        elif match := NANOGPT_STEP.match(line):
            vals.append(float(match[3]))
            print(f"  nanoGPT step {match[1]}: val loss {match[3]}", flush=True)
    tokens_per_iter = {"tiny": 12 * 64, "shakespeare-char": 64 * 256}[recipe]
    nanogpt_ckpt = workdir / "nanogpt-out" / "ckpt.pt"
    # nanoGPT's first logged time includes its first evaluation; skip the first five
    steady = times[5:] or times
    return {
        "tokens_per_sec": tokens_per_iter / statistics.median(steady),
        "final_loss": losses[-1],
        "val_loss": vals[-1] if vals else float("nan"),
        # nanoGPT saves only at an evaluation that improved (never, with one evaluation)
        "full_val_loss": full_val_loss(nanogpt_ckpt, workdir / "data")
        if nanogpt_ckpt.exists()
        else float("nan"),
        "wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="tiny")
    parser.add_argument("--iters", type=int, default=2000)
    parser.add_argument("--nanogpt", type=Path, help="a nanoGPT checkout to compare against")
    parser.add_argument(
        "--rounds", type=int, default=1, help="alternate the engines this many times (a shared "
        "machine's speed drifts; the ratio within a round is what to trust)",
    )  # fmt: skip
    args = parser.parse_args()
    engines = ["nanogpt-studio"] + (["nanoGPT train.py"] if args.nanogpt else [])
    rounds: list[dict[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        workdir = Path(tmp)
        for _ in range(args.rounds):
            row = {"nanogpt-studio": run_ours(args.recipe, args.iters, workdir)}
            if args.nanogpt:
                row["nanoGPT train.py"] = run_nanogpt(
                    args.recipe, args.iters, args.nanogpt, workdir
                )
            rounds.append(row)
    print(f"\nrecipe {args.recipe}, {args.iters} iterations, CPU, {args.rounds} round(s)")
    print(
        f"{'round':<6} {'engine':<18} {'tokens/s':>10} {'last loss':>10} {'val loss':>9} "
        f"{'full val':>9} {'wall s':>8}"
    )
    for number, row in enumerate(rounds, 1):
        for name in engines:
            r = row[name]
            print(
                f"{number:<6} {name:<18} {r['tokens_per_sec']:>10.0f} {r['final_loss']:>10.4f} "
                f"{r['val_loss']:>9.4f} {r['full_val_loss']:>9.4f} {r['wall_s']:>8.1f}"
            )
    if args.nanogpt:
        ratios = [
            row["nanogpt-studio"]["tokens_per_sec"] / row["nanoGPT train.py"]["tokens_per_sec"]
            for row in rounds
        ]
        shown = ", ".join(f"{r:.2f}" for r in ratios)
        print(f"speed-up per round: {shown}; median {statistics.median(ratios):.2f}x")


if __name__ == "__main__":
    main()
