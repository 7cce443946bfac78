"""The budget planner and pruned sweeps against hand-picked configs, side by side in one run.

    python bench/budget.py                                   # quick: 20 s runs, Shakespeare
    python bench/budget.py --seconds 300 --corpora shakespeare,code --sweep   # make bench-budget

1. For each corpus (Tiny Shakespeare, char; and a code corpus of --code-mb MB built from this
   machine's standard library, /usr/lib/python3.*/, files shuffled), a --seconds budget run
   (worker/engine/config/budget.py, with this CPU's calibrated speed) against each CPU-sized
   shipped preset trained for the same seconds (its loop stopped by the same time budget, its own
   schedule): final val bits per character.
2. With --sweep, on Shakespeare: an 8-trial sweep (Optuna's TPE with the sweeper's pruner,
   as worker/jobs/sweeper.py drives it) against a full grid of --grid learning rates, each trial
   --iters iterations of tiny-cpu-fast: the best val bpc each finds and the CPU seconds each
   spent (this process's user + system time).
Runs alternate nothing: each figure is one run, on a shared machine; the CPU flags are
printed (bench/_machine.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/ is a package

from worker.engine.wait_policy import choose_wait_policy

choose_wait_policy()  # as a training process does, before torch loads (the imports below)

import optuna  # noqa: E402

from bench._machine import cpu_flags, machine  # noqa: E402
from worker.engine.config.budget import plan_budget  # noqa: E402
from worker.engine.config.presets import preset_config  # noqa: E402
from worker.engine.config.train_config import TrainConfig  # noqa: E402
from worker.engine.data.prepare import prepare, read_meta  # noqa: E402
from worker.engine.events import StepEvent, TrainCallbacks  # noqa: E402
from worker.engine.training.calibration import measure_speed  # noqa: E402
from worker.engine.training.loop import train  # noqa: E402
from worker.jobs.sweeper import trial_pruner  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHAKESPEARE = ROOT / "app" / "sample_data" / "tinyshakespeare.txt"
# the shipped presets a CPU can train in minutes (gpt2-small's one iteration takes minutes
# here; finetune-gpt2 needs GPT-2's weights)
CPU_PRESETS = ("tiny-cpu", "tiny-cpu-fast", "shakespeare-char", "shakespeare-char-fast")


class Scores(TrainCallbacks):
    """The val bits per character at each evaluation; stops when `stop` says so."""

    def __init__(self, stop: object = None) -> None:
        self.bpc: dict[int, float] = {}
        self.stop = stop
        self.stopped = False

    def on_step(self, event: StepEvent) -> None:
        if event.evaluated and event.val_bpc is not None:
            self.bpc[event.iter] = event.val_bpc
            if callable(self.stop) and self.stop(event.iter, event.val_bpc):
                self.stopped = True

    def should_stop(self) -> bool:
        return self.stopped


def code_corpus(folder: Path, megabytes: float) -> Path:
    """Python files of this machine's standard library, up to `megabytes`, in a seeded
    shuffle: the val split (the corpus's last tenth) is then code like the train split's.
    (In sorted order it was pip's vendored chardet tables, numbers no model learns from code.)"""
    out, size, limit = folder / "code.txt", 0, int(megabytes * 2**20)
    files = sorted(f for lib in Path("/usr/lib").glob("python3.*") for f in lib.rglob("*.py"))
    random.Random(1337).shuffle(files)
    with out.open("w", encoding="utf-8") as sink:
        for name in files:
            try:
                text = name.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            sink.write(text + "\n")
            size += len(text.encode())
            if size >= limit:
                break
    return out


def run(cfg: TrainConfig, stop: object = None) -> tuple[float, int]:
    scores = Scores(stop)
    result = train(cfg, scores)
    last = max(scores.bpc, default=None)  # the final evaluation's
    return (scores.bpc[last] if last is not None else math.nan), result.iter_num


def compare_budget(data: Path, work: Path, seconds: float, speed: object) -> None:
    meta = read_meta(data)
    paths = {"data_dir": str(data), "device": "cpu", "compile": False}
    base = dataclasses.replace(preset_config("tiny-cpu"), **paths)
    plan = plan_budget(
        seconds,
        base,
        fixed={"device", "compile"},
        train_tokens=int(meta["train_tokens"]),
        vocab_size=int(meta["vocab_size"]),
        speed=speed,  # type: ignore[arg-type]
    )
    print("  plan: " + " | ".join(plan.reasons[2:]))
    rows = []
    began = time.perf_counter()
    cfg = dataclasses.replace(plan.config, out_dir=str(work / "budget"))
    bpc, iters = run(dataclasses.replace(cfg, eval_interval=10**9))
    rows.append(("budget plan", bpc, iters, time.perf_counter() - began))
    for name in CPU_PRESETS:
        began = time.perf_counter()
        cfg = dataclasses.replace(
            preset_config(name),
            **paths,
            out_dir=str(work / name),
            time_budget_s=plan.config.time_budget_s,  # the same loop time as the plan's
            eval_interval=10**9,
        )
        # the same scoring as the plan's: at the start and at the deadline, on about as many
        # tokens (a preset's 200 batches of 64 x 256 would eat its minutes)
        plan_batch = plan.config.batch_size * plan.config.block_size
        cfg = dataclasses.replace(
            cfg,
            eval_iters=max(
                1, round(plan.config.eval_iters * plan_batch / (cfg.batch_size * cfg.block_size))
            ),
        )
        bpc, iters = run(cfg)
        rows.append((name, bpc, iters, time.perf_counter() - began))
    print(f"  {'config':24} {'val bpc':>8} {'iters':>7} {'wall s':>7}")
    for name, bpc, iters, wall in rows:
        print(f"  {name:24} {bpc:8.4f} {iters:7d} {wall:7.1f}")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def trial_config(data: Path, work: Path, lr: float, iters: int, tag: str) -> TrainConfig:
    return dataclasses.replace(
        preset_config("tiny-cpu-fast"),
        data_dir=str(data),
        out_dir=str(work / tag),
        device="cpu",
        compile=False,
        learning_rate=lr,
        min_lr=lr / 10,
        max_iters=iters,
        lr_decay_iters=iters,
        eval_interval=max(1, iters // 10),
    )


def compare_sweep(data: Path, work: Path, iters: int, grid: int) -> None:
    low, high = 1e-3, 1e-1
    began = cpu_seconds()
    grid_scores = []
    for i in range(grid):
        lr = low * (high / low) ** (i / (grid - 1))
        grid_scores.append((run(trial_config(data, work, lr, iters, f"grid{i}"))[0], lr))
    grid_cpu = cpu_seconds() - began
    began = cpu_seconds()
    study = optuna.create_study(
        sampler=optuna.samplers.TPESampler(seed=1337, n_startup_trials=3),
        pruner=trial_pruner(),
    )
    for number in range(8):
        trial = study.ask({"lr": optuna.distributions.FloatDistribution(low, high, log=True)})

        def prune(it: int, bpc: float, trial: optuna.Trial = trial) -> bool:
            trial.report(bpc, it)
            return trial.should_prune()

        cfg = trial_config(data, work, trial.params["lr"], iters, f"trial{number}")
        bpc, _ = run(cfg, prune)
        if trial.should_prune():
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, bpc)
    sweep_cpu = cpu_seconds() - began
    ranked = sorted(grid_scores)
    best = study.best_trial
    rank = sum(score < best.value for score, _ in ranked) + 1
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    print(f"  grid of {grid}: best lr {ranked[0][1]:.4g} at val bpc {ranked[0][0]:.4f}, "
          f"{grid_cpu:.0f} CPU s")  # fmt: skip
    print(f"  sweep of 8 ({pruned} pruned): lr {best.params['lr']:.4g} at val bpc "
          f"{best.value:.4f} (better than all but {rank - 1} of the grid), {sweep_cpu:.0f} CPU s "
          f"({sweep_cpu / grid_cpu:.2f}x the grid's)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="each run's budget")
    parser.add_argument("--corpora", default="shakespeare", help="shakespeare,code ('' for none)")
    parser.add_argument("--code-mb", type=float, default=4.0)
    parser.add_argument("--sweep", action="store_true", help="also the sweep against a grid")
    parser.add_argument("--iters", type=int, default=300, help="each sweep/grid trial's")
    parser.add_argument("--grid", type=int, default=12, help="learning rates in the grid")
    parser.add_argument("--calibrate", action="store_true", help="measure this CPU first")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"machine: {machine()}; CPU flags: {cpu_flags()}")
    speed = measure_speed("cpu") if args.calibrate else None
    if speed is not None:
        print(f"speed: {speed.flops_per_s / 1e9:.1f} GFLOP/s + {speed.overhead_s * 1000:.1f} ms")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sources = {"shakespeare": SHAKESPEARE, "code": None}
        for corpus in filter(None, args.corpora.split(",")):
            source = sources[corpus] or code_corpus(work, args.code_mb)
            data = work / f"data-{corpus}"
            prepare(source, data, tokenizer="char")
            print(f"\n{corpus}: {read_meta(data)['train_tokens']:,} train tokens, "
                  f"{args.seconds:.0f} s each")  # fmt: skip
            compare_budget(data, work / corpus, args.seconds, speed)
        if args.sweep:
            print(f"\nsweep vs grid on shakespeare, {args.iters} iterations a trial:")
            data = work / "data-sweep"
            prepare(SHAKESPEARE, data, tokenizer="char")
            compare_sweep(data, work / "sweep", args.iters, args.grid)


if __name__ == "__main__":
    main()
