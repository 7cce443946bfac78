"""Fine-tuning a (tiny) pretrained GPT-2 vs training the same shape from scratch.

    python bench/finetune_vs_scratch.py --pretrain_iters 400 --iters 100 --eval_interval 25

The defaults (100 pretraining steps, 40 steps each) are a quick check for `make bench`; the
figures in docs/benchmarks.md come from the command above.

OpenAI's GPT-2 weights cannot be downloaded here, so the "pretrained GPT-2" is made on the
spot: a small GPT-2-shaped model (GPT-2 tokenizer, vocab 50257) is trained on the first 90%
of tinyshakespeare, exported in Hugging Face format, and loaded back through
`init_from=<folder>` exactly as real GPT-2 weights would be. The comparison runs on the held
out last 10% of the text (its own 90/10 train/val split): the same number of steps from those
weights, and from a random init. Printed: val loss after each evaluation for both.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from worker.engine.wait_policy import choose_wait_policy

choose_wait_policy()  # as a training process does, before torch loads (the imports below)

from worker.engine.checkpoints.export import export_checkpoint  # noqa: E402
from worker.engine.config.train_config import TrainConfig  # noqa: E402
from worker.engine.data.prepare import prepare  # noqa: E402
from worker.engine.events import StepEvent, TrainCallbacks  # noqa: E402
from worker.engine.training.loop import train  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "app" / "sample_data" / "tinyshakespeare.txt"
SHAPE = {"n_layer": 4, "n_head": 4, "n_embd": 64, "block_size": 64, "bias": True}
BATCH = 8


class EvalLog(TrainCallbacks):
    def __init__(self) -> None:
        self.evals: list[StepEvent] = []

    def on_step(self, event: StepEvent) -> None:
        if event.evaluated:
            self.evals.append(event)


def config(data: Path, out: Path, **knobs: Any) -> TrainConfig:
    values: dict[str, Any] = {
        **SHAPE,
        "data_dir": str(data), "out_dir": str(out), "device": "cpu", "compile": False,
        "dtype": "float32", "batch_size": BATCH, "gradient_accumulation_steps": 1,
        "eval_iters": 10, "log_interval": 50, "dropout": 0.0, "always_save_checkpoint": False,
        "weight_decay": 0.1, "beta2": 0.99, "grad_clip": 1.0,
    }  # fmt: skip
    values.update(knobs)
    return TrainConfig.from_mapping(values)


def run(cfg: TrainConfig) -> tuple[list[StepEvent], float]:
    log = EvalLog()
    started = time.perf_counter()
    train(cfg, log)
    return log.evals, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--pretrain_iters", type=int, default=100)
    parser.add_argument("--iters", type=int, default=40, help="fine-tune / scratch steps")
    parser.add_argument("--eval_interval", type=int, default=20)
    parser.add_argument("--finetune_lr", type=float, default=3e-4)
    parser.add_argument("--scratch_lr", type=float, default=1e-3)
    args = parser.parse_args()

    text = args.source.read_text(encoding="utf-8")
    cut = int(len(text) * 0.9)
    print(f"{os.cpu_count()} CPUs; shape {SHAPE}, batch {BATCH}, vocab 50257 (GPT-2 BPE)")
    with tempfile.TemporaryDirectory(prefix="finetune-bench-") as scratch:
        tmp = Path(scratch)
        (tmp / "pretrain.txt").write_text(text[:cut], encoding="utf-8")
        (tmp / "target.txt").write_text(text[cut:], encoding="utf-8")
        pre = prepare(tmp / "pretrain.txt", tmp / "pre-data", tokenizer="gpt2")
        tgt = prepare(tmp / "target.txt", tmp / "tgt-data", tokenizer="gpt2")
        print(
            f"pretrain text: {cut:,} chars, {pre.train_tokens:,} train tokens; "
            f"target text: {len(text) - cut:,} chars, {tgt.train_tokens:,} train / "
            f"{tgt.val_tokens:,} val tokens"
        )

        n = args.pretrain_iters
        evals, seconds = run(
            config(tmp / "pre-data", tmp / "pretrained", max_iters=n, eval_interval=n,
                   learning_rate=1e-3, warmup_iters=n // 10, lr_decay_iters=n, min_lr=1e-4)
        )  # fmt: skip
        print(f"pretraining: {n} steps in {seconds:.0f}s, val loss {evals[-1].val_loss:.3f}")
        hf_folder = tmp / "tiny-gpt2-hf"
        export_checkpoint(tmp / "pretrained", "hf", hf_folder)

        common = {"max_iters": args.iters, "eval_interval": args.eval_interval}
        finetune, ft_s = run(
            config(tmp / "tgt-data", tmp / "ft", init_from=str(hf_folder), decay_lr=False,
                   learning_rate=args.finetune_lr, min_lr=0.0, **common)
        )  # fmt: skip
        scratch_evals, sc_s = run(
            config(tmp / "tgt-data", tmp / "sc", learning_rate=args.scratch_lr, warmup_iters=10,
                   lr_decay_iters=args.iters, min_lr=args.scratch_lr / 10, **common)
        )  # fmt: skip
    print()
    print(f"| step | fine-tuned val loss (lr {args.finetune_lr:g}, constant) "
          f"| from scratch val loss (lr {args.scratch_lr:g}, warmup + cosine) |")  # fmt: skip
    print("|---:|---:|---:|")
    for ft, sc in zip(finetune, scratch_evals, strict=True):
        print(f"| {ft.iter} | {ft.val_loss:.3f} | {sc.val_loss:.3f} |")
    print(f"\nwall clock: fine-tune {ft_s:.0f}s, scratch {sc_s:.0f}s ({args.iters} steps each)")


if __name__ == "__main__":
    main()
