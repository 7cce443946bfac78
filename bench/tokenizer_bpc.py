"""Bits per character on Tiny Shakespeare's val split after equal training time, by tokenizer.

    .venv/bin/python bench/tokenizer_bpc.py [--seconds 10] [--rounds 1]
        [--tokenizers char,gpt2,bpe-512,bpe-2048]

Each tokenizer prepares tinyshakespeare.txt (90/10 split, as nanoGPT's), then the tiny-cpu
model shape (4 layers × 128, block 64 tokens, batch 12, lr 1e-3 constant after 100 warm-up
steps, no dropout) trains from scratch for the same time on one torch thread, timed from the
start of the loop (the stop is polled every iteration). The time is this process's CPU time
(time.process_time), not wall time: on a host shared with other work a run's wall clock says
more about its neighbours than about it, while the CPU seconds it got are what it trained
with; wall seconds are printed beside. The whole val split is then scored in non-overlapping
windows of 64 tokens: nats per token, and bits per character = nats/token × tokens/char ÷
ln 2, which is what compares tokenizers. Rounds alternate the order; each round is a fresh
run. The embedding grows with the vocabulary (GPT-2's 50257 rows dominate that model), so a
bigger vocabulary also means slower steps: that is part of what equal time measures.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

import torch

from worker.engine.checkpoints.files import clean_state_dict, load_checkpoint
from worker.engine.config.presets import preset_config
from worker.engine.config.train_config import TrainConfig
from worker.engine.data.prepare import prepare, read_meta, token_memmap
from worker.engine.events import StartInfo, TrainCallbacks
from worker.engine.model.gpt import GPT, GPTConfig
from worker.engine.training.bits_per_char import bits_per_character
from worker.engine.training.loop import train

SOURCE = Path("/work/shared/data/tinyshakespeare.txt")
EVAL_BATCH = 64


class Budget(TrainCallbacks):
    """Stops the run once it has had `seconds` of CPU time since its loop began."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started: float | None = None
        self.wall: float | None = None

    def on_start(self, info: StartInfo) -> None:
        self.started = time.process_time()
        self.wall = time.perf_counter()

    def should_stop(self) -> bool:
        return self.started is not None and time.process_time() - self.started >= self.seconds


@torch.no_grad()
def val_nats_per_token(run_dir: Path, data_dir: Path) -> float:
    """Mean loss over every token of the val split, in windows of block_size."""
    checkpoint = load_checkpoint(run_dir)
    model = GPT(GPTConfig(**{**checkpoint["model_args"], "dropout": 0.0}))
    model.load_state_dict(clean_state_dict(checkpoint["model"]))
    model.eval()
    block = model.config.block_size
    ids = torch.from_numpy(token_memmap(data_dir, "val").astype("int64"))
    windows = (ids.numel() - 1) // block
    x = ids[: windows * block].view(windows, block)  # (windows, block)
    y = ids[1 : windows * block + 1].view(windows, block)
    total = 0.0
    for start in range(0, windows, EVAL_BATCH):
        _, loss = model(x[start : start + EVAL_BATCH], y[start : start + EVAL_BATCH])
        total += float(loss) * x[start : start + EVAL_BATCH].numel()
    return total / x.numel()


def run_one(name: str, data: Path, out: Path, seconds: float) -> dict[str, float]:
    cfg = preset_config(
        "tiny-cpu",
        {
            "data_dir": str(data),
            "out_dir": str(out),
            "max_iters": 1_000_000,
            "lr_decay_iters": 1_000_000,
            "decay_lr": False,
            "eval_interval": 1_000_000,
            "eval_iters": 1,
            "log_interval": 50,
        },
    )
    assert isinstance(cfg, TrainConfig)
    budget = Budget(seconds)
    result = train(cfg, budget)
    assert result.checkpoint is not None, "stopped before the first step: give it more time"
    meta = read_meta(data)
    nats = val_nats_per_token(out, data)
    return {
        "iters": result.iter_num,
        "wall": time.perf_counter() - (budget.wall or 0.0),
        "vocab": meta["vocab_size"],
        "nats": nats,
        "tokens_per_char": meta["val_tokens"] / meta["val_characters"],
        "bpc": bits_per_character(nats, meta["val_tokens"], meta["val_characters"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="CPU seconds of training per run (docs: 20)"
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--tokenizers", default="char,gpt2,bpe-512,bpe-2048")
    parser.add_argument("--source", type=Path, default=SOURCE)
    args = parser.parse_args()
    names = args.tokenizers.split(",")
    torch.manual_seed(1337)
    torch.set_num_threads(1)  # one core's worth each: CPU time then reads as training time
    print(
        f"{os.cpu_count()} CPUs, {torch.get_num_threads()} torch thread; load average "
        f"{os.getloadavg()[0]:.2f} at start; {args.seconds:g} CPU s of training per run"
    )
    with tempfile.TemporaryDirectory() as tmp:
        data = {}
        for name in names:
            start = time.perf_counter()
            result = prepare(args.source, Path(tmp) / f"data-{name}", tokenizer=name)
            data[name] = result.out_dir
            print(
                f"prepared {name}: vocab {result.vocab_size}, {result.train_tokens:,} train "
                f"tokens in {time.perf_counter() - start:.1f} s",
                flush=True,
            )
        rows: dict[str, list[dict[str, float]]] = {name: [] for name in names}
        for round_no in range(args.rounds):
            order = names[round_no % len(names) :] + names[: round_no % len(names)]
            for name in order:
                out = Path(tmp) / f"run-{name}-{round_no}"
                rows[name].append(run_one(name, data[name], out, args.seconds))
                r = rows[name][-1]
                print(
                    f"round {round_no + 1} {name}: {r['iters']} iters ({r['wall']:.0f} s wall), "
                    f"val {r['nats']:.4f} nats/token, {r['bpc']:.4f} bits/char",
                    flush=True,
                )
    print(
        f"\n{'tokenizer':<10} {'vocab':>6} {'iters':>6} {'tokens/char':>11} "
        f"{'val nats/token':>14} {'val bits/char':>13}"
    )
    for name, results in rows.items():
        best = min(results, key=lambda r: r["bpc"])
        print(
            f"{name:<10} {best['vocab']:>6} {best['iters']:>6} {best['tokens_per_char']:>11.3f} "
            f"{best['nats']:>14.4f} {best['bpc']:>13.4f}"
        )
    print(f"load average {os.getloadavg()[0]:.2f} at the end; ln 2 = {math.log(2):.4f}")


if __name__ == "__main__":
    main()
