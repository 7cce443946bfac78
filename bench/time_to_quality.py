"""Time to quality on this CPU: the modern recipe against nanoGPT's train.py and our gpt2 arch.

    python bench/time_to_quality.py --nanogpt /path/to/nanoGPT [--recipe tiny] [--rounds 2]
    python bench/time_to_quality.py --recipe shakespeare-char --budget 120 --rounds 1
    python bench/time_to_quality.py --recipe tiny --mode budget --iters 300 --budget 600

`tiny` (4×128, block 64, batch 12, Tiny Shakespeare char): nanoGPT's own train.py runs its
README CPU recipe (2000 iterations) to its final val loss; our gpt2 arch runs the same recipe
(preset tiny-cpu); the modern arch runs preset tiny-cpu-fast and stops as soon as an
evaluation reads val loss <= --target (1.88, nanoGPT's published figure for the recipe).
`shakespeare-char` (6×384, block 256): gpt2 and modern arch each train for --budget seconds
of wall time; val loss at equal time. `--mode budget` runs either size that way: both archs
on the same --iters schedule, each stopped at --budget seconds. Engines alternate within each
round (a shared machine's speed drifts). Prints a table, writes the loss-vs-wall-time points
as JSON and, with matplotlib installed (`pip install -e .[bench]`), a PNG.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from worker.engine.wait_policy import choose_wait_policy, unchosen_environment

choose_wait_policy()  # as a training process does, before torch loads (the imports below)

from worker.engine.config.presets import preset_config  # noqa: E402
from worker.engine.data.prepare import prepare  # noqa: E402
from worker.engine.events import StepEvent, TrainCallbacks  # noqa: E402
from worker.engine.training.loop import train  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHAKESPEARE = ROOT / "app" / "sample_data" / "tinyshakespeare.txt"
Curve = list[tuple[float, int, float]]  # (wall seconds, iteration, val loss)


class Clock(TrainCallbacks):
    """Records (wall s, iter, val loss) at each evaluation; stops at a target or a budget."""

    def __init__(self, target: float | None, budget_s: float | None) -> None:
        self.began = time.perf_counter()
        self.curve: Curve = []
        self.target, self.budget_s = target, budget_s
        self.reached = False

    def on_step(self, event: StepEvent) -> None:
        if event.evaluated and event.val_loss is not None:
            self.curve.append((time.perf_counter() - self.began, event.iter, event.val_loss))
            print(f"    {self.curve[-1][0]:7.1f}s iter {event.iter}: val {event.val_loss:.4f}")
            if self.target is not None and event.val_loss <= self.target:
                self.reached = True

    def should_stop(self) -> bool:
        over = self.budget_s is not None and time.perf_counter() - self.began > self.budget_s
        return self.reached or over


def run_ours(
    preset: str, knobs: dict[str, Any], data: Path, out: Path, clock: Clock
) -> dict[str, Any]:
    shutil.rmtree(out, ignore_errors=True)
    cfg = preset_config(
        preset,
        {**knobs, "data_dir": str(data), "out_dir": str(out), "always_save_checkpoint": False},
    )
    cpu0 = time.process_time()
    result = train(cfg, clock)
    wall = time.perf_counter() - clock.began
    return {"curve": clock.curve, "wall_s": wall, "cpu_s": time.process_time() - cpu0,
            "iters": result.iter_num}  # fmt: skip


def run_nanogpt(checkout: Path, args: list[str], out: Path) -> dict[str, Any]:
    """nanoGPT's train.py, unbuffered, with a wall-clock stamp on each `step N: ...` line."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-u", "train.py", "config/train_shakespeare_char.py",
               "--device=cpu", "--compile=False", "--wandb_log=False", f"--out_dir={out}",
               *args]  # fmt: skip
    began = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = subprocess.Popen(
        command, cwd=checkout, stdout=subprocess.PIPE, text=True, env=unchosen_environment()
    )
    curve: Curve = []
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("step "):  # "step 250: train loss 2.4, val loss 2.4"
            it = int(line.split(":")[0].split()[1])
            curve.append((time.perf_counter() - began, it, float(line.rsplit(" ", 1)[1])))
            print(f"    {curve[-1][0]:7.1f}s iter {it}: val {curve[-1][2]:.4f}")
    if process.wait() != 0:
        raise SystemExit("nanoGPT's train.py failed")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"curve": curve, "wall_s": time.perf_counter() - began, "cpu_s": cpu,
            "iters": curve[-1][1] if curve else 0}  # fmt: skip


def tiny_round(args: argparse.Namespace, data: Path, work: Path) -> dict[str, dict[str, Any]]:
    iters = args.iters
    row: dict[str, dict[str, Any]] = {}
    print("  modern arch (tiny-cpu-fast), to the target")
    row["modern"] = run_ours(
        "tiny-cpu-fast",
        {"max_iters": args.modern_iters, "lr_decay_iters": args.modern_iters,
         "eval_interval": 50},
        data, work / "modern", Clock(args.target, None),
    )  # fmt: skip
    if args.nanogpt:
        print("  nanoGPT train.py, README CPU recipe")
        row["nanoGPT"] = run_nanogpt(
            args.nanogpt,
            ["--eval_iters=20", "--log_interval=50", "--block_size=64", "--batch_size=12",
             "--n_layer=4", "--n_head=4", "--n_embd=128", f"--max_iters={iters}",
             f"--lr_decay_iters={iters}", "--dropout=0.0"],
            work / "nanogpt-out",
        )  # fmt: skip
    if args.skip_gpt2:
        return row
    print("  our gpt2 arch (tiny-cpu)")
    row["gpt2"] = run_ours(
        "tiny-cpu",
        {"max_iters": iters, "lr_decay_iters": iters, "eval_interval": 250, "log_interval": 50},
        data, work / "gpt2", Clock(None, None),
    )  # fmt: skip
    return row


def budget_round(args: argparse.Namespace, data: Path, work: Path) -> dict[str, dict[str, Any]]:
    """Both archs on the same schedule (--iters) for at most --budget s of wall time each."""
    row: dict[str, dict[str, Any]] = {}
    big = args.recipe == "shakespeare-char"
    common = {"max_iters": args.iters, "lr_decay_iters": args.iters,
              "eval_interval": args.eval_interval, "eval_iters": 4 if big else 20,
              "log_interval": 25, "device": "cpu", "compile": False,
              "warmup_iters": 10}  # fmt: skip
    presets = (
        ("shakespeare-char-fast", "shakespeare-char") if big else ("tiny-cpu-fast", "tiny-cpu")
    )
    for name, preset in zip(("modern", "gpt2"), presets, strict=True):
        print(f"  {name} arch ({preset}), {args.budget:.0f} s")
        knobs = dict(common, warmup_iters=0) if name == "modern" else common
        row[name] = run_ours(preset, knobs, data, work / name, Clock(None, args.budget))
    return row


def plot(rounds: list[dict[str, dict[str, Any]]], path: Path, title: str, target: float) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no PNG (pip install -e .[bench])")
        return
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    colours = {"nanoGPT": "#888888", "gpt2": "#1f77b4", "modern": "#d62728"}
    labels = {"nanoGPT": "nanoGPT train.py", "gpt2": "ours, arch=gpt2",
              "modern": "ours, arch=modern + Muon"}  # fmt: skip
    for number, row in enumerate(rounds):
        for name, result in row.items():
            xs = [t for t, _, _ in result["curve"]]
            ys = [v for _, _, v in result["curve"]]
            label = labels[name] if number == 0 else None
            ax.plot(xs, ys, marker=".", color=colours[name], alpha=0.9 - 0.3 * number, label=label)
    ax.axhline(target, color="#444444", linestyle=":", linewidth=1)
    ax.set_xlabel("wall time, s (shared 2-vCPU machine)")
    ax.set_ylabel("val loss")
    ax.set_title(title)
    ax.set_ylim(top=min(3.0, ax.get_ylim()[1]))
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", choices=("tiny", "shakespeare-char"), default="tiny")
    parser.add_argument("--nanogpt", type=Path, help="a nanoGPT checkout (tiny recipe)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--iters", type=int, default=2000, help="nanoGPT / gpt2 iterations")
    parser.add_argument("--modern-iters", type=int, default=600, help="modern's schedule length")
    parser.add_argument("--target", type=float, default=1.88)
    parser.add_argument("--budget", type=float, default=120.0, help="seconds (6x384)")
    parser.add_argument("--png", type=Path, help="where to write the figure")
    parser.add_argument("--json", type=Path, help="where to write the curves")
    parser.add_argument("--mode", choices=("target", "budget"), help="default: tiny target, "
                        "shakespeare-char budget")  # fmt: skip
    parser.add_argument("--eval-interval", type=int, default=25, help="budget mode")
    parser.add_argument("--skip-gpt2", action="store_true", help="target mode: modern, nanoGPT")
    args = parser.parse_args()
    args.mode = args.mode or ("target" if args.recipe == "tiny" else "budget")
    print(f"torch threads: {os.environ.get('OMP_NUM_THREADS', 'default')}")
    rounds = []
    with tempfile.TemporaryDirectory(prefix="bench-ttq-") as tmp:
        work = Path(tmp)
        data = work / "data"
        prepare(SHAKESPEARE, data, tokenizer="char")
        for number in range(1, args.rounds + 1):
            print(f"round {number}")
            one = tiny_round if args.mode == "target" else budget_round
            rounds.append(one(args, data, work))
    print(f"\n{'round':<6} {'engine':<8} {'iters':>6} {'wall s':>8} {'cpu s':>8} "
          f"{'final val':>9} {'s to <=' + str(args.target):>10}")  # fmt: skip
    for number, row in enumerate(rounds, 1):
        for name, r in row.items():
            hit = next((t for t, _, v in r["curve"] if v <= args.target), None)
            shown = f"{hit:.1f}" if hit is not None else "-"
            print(f"{number:<6} {name:<8} {r['iters']:>6} {r['wall_s']:>8.1f} {r['cpu_s']:>8.1f} "
                  f"{r['curve'][-1][2]:>9.4f} {shown:>10}")  # fmt: skip
        if "nanoGPT" in row:
            hit = next((t for t, _, v in row["modern"]["curve"] if v <= args.target), None)
            if hit is not None:
                print(f"       modern to {args.target} / nanoGPT's whole run: "
                      f"{hit / row['nanoGPT']['wall_s']:.2f}x")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(rounds, indent=1) + "\n", encoding="utf-8")
    if args.png:
        size = "4×128 block 64" if args.recipe == "tiny" else "6×384 block 256"
        title = f"Tiny Shakespeare char, {size}" + (
            f", {args.iters} iterations or {args.budget:.0f} s" if args.mode == "budget" else ""
        )
        plot(rounds, args.png, title, args.target)


if __name__ == "__main__":
    main()
