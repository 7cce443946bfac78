"""`nanogpt-studio train`: a config from a preset, a file and --key=value (or a --budget),
judged as the API judges it, then trained here or as --nproc ranks under torchrun."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType
from typing import Any

from worker.cli.output import print_error


def _without_nproc(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def _train_ranks(nproc: int, argv: list[str]) -> int:
    """`train --nproc N`: the same command as N ranks under torchrun (nanoGPT's way)."""
    import os
    import subprocess

    from worker.engine.training.launch import torchrun_command

    if nproc < 1:
        print("error: nproc: must be at least 1", file=sys.stderr)
        return 2
    command = torchrun_command(nproc, "worker.cli", _without_nproc(argv))
    # Ctrl-C reaches every rank from the terminal; this process just waits for them.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return subprocess.call(command, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    finally:
        signal.signal(signal.SIGINT, previous)


def train(args: argparse.Namespace, extra: list[str]) -> int:
    import os

    from worker.engine.wait_policy import choose_wait_policy

    choose_wait_policy()  # before torch loads
    from worker.engine.config.derived import with_derived_schedule
    from worker.engine.config.files import load_config_file
    from worker.engine.config.presets import preset_config
    from worker.engine.config.train_config import TrainConfig, parse_overrides
    from worker.engine.events import TrainCallbacks

    base = preset_config(args.preset) if args.preset else TrainConfig()
    given: dict[str, Any] = {}
    if args.config:
        given = load_config_file(args.config, report=lambda line: print(line, file=sys.stderr))
    set_by_user = {*given, *parse_overrides(extra)}
    given = {**given, **parse_overrides(extra), "data_dir": args.data, "out_dir": args.out}
    cfg = with_derived_schedule(base, given)
    if args.budget is not None:
        from worker.engine.training.calibration import plan_here

        cfg = plan_here(
            args.budget,
            cfg,
            fixed=set_by_user,
            calibrate=args.calibrate,
            report=lambda line: print(f"budget: {line}", file=sys.stderr),
        )
    if args.dry_run:
        return _dry_run(cfg)
    if _said_verdict(cfg, device=None):  # every error at once, then the loop's own preflight
        return 2
    if args.nproc != 1 and "RANK" not in os.environ:
        from worker.engine.training.ranks import steps_per_rank

        steps_per_rank(cfg.gradient_accumulation_steps, max(args.nproc, 1))  # before any start
        return _train_ranks(args.nproc, args.argv)
    from worker.engine.training.loop import train as train_loop

    class PrintAndStopOnCtrlC(TrainCallbacks):
        stop_requested = False

        def on_message(self, line: str) -> None:
            print(line, flush=True)

        def should_stop(self) -> bool:
            return self.stop_requested

    callbacks = PrintAndStopOnCtrlC()
    rank = int(os.environ.get("RANK", "0"))
    several = "RANK" in os.environ

    def on_sigint(_signum: int, _frame: FrameType | None) -> None:
        if callbacks.stop_requested and not several:
            raise KeyboardInterrupt  # a second Ctrl-C: leave without waiting
        if not callbacks.stop_requested and rank == 0:
            print("\nstopping after this iteration (Ctrl-C again to quit at once)", flush=True)
        callbacks.stop_requested = True

    # Under torchrun, Ctrl-C reaches each rank from the terminal and again from the agent
    # (as SIGINT or SIGTERM): every rank stops at the same step and rank 0 checkpoints.
    stop_signals = (signal.SIGINT, signal.SIGTERM) if several else (signal.SIGINT,)
    previous = {s: signal.signal(s, on_sigint) for s in stop_signals}
    try:
        result = train_loop(cfg, callbacks)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if rank != 0:
        return 0
    where = f"; checkpoint {result.checkpoint}" if result.checkpoint else ""
    print(
        f"{result.status} at iteration {result.iter_num}, best val loss "
        f"{result.best_val_loss:.4f}{where}"
    )
    return 0


def _dry_run(cfg: Any) -> int:
    """`train --dry-run`: the verdict the API gives the same knobs, with this machine's device
    as the memory guard's, and the run's size; 2 when the run could not start."""
    if _said_verdict(cfg, device=_local_device(cfg), size=True):
        return 2
    print(f"{cfg.max_iters:,} iterations of {cfg.tokens_per_iter:,} tokens; nothing trained")
    return 0


def _said_verdict(cfg: Any, *, device: Any, size: bool = False) -> bool:
    """Print the verdict on `cfg` (config/verdict.py: what the API says of the same knobs):
    every error, or the warnings, which are allowed, so said and not refused, as nanoGPT would;
    True when there are errors."""
    from worker.engine.config.verdict import judge
    from worker.engine.data.meta import read_meta

    meta = read_meta(cfg.data_dir)
    verdict = judge(cfg, meta, vocab_size=int(meta["vocab_size"]), device=device)
    for error in verdict.errors:
        print_error(error)
    for warning in verdict.warnings:
        print(f"warning ({warning.field}): {warning.message}", file=sys.stderr)
    if size and verdict.memory is not None:
        estimate = verdict.memory.estimate
        print(
            f"{estimate.params:,} parameters; about {estimate.total_bytes / 2**20:,.0f} MiB a rank"
        )
    return bool(verdict.errors)


def _local_device(cfg: Any) -> Any:
    """This machine's device for `cfg.device`, with its free memory (None: not found)."""
    from worker.engine.config.memory_guard import Device
    from worker.jobs.device_probe import probe

    devices = [d for d in probe() if d.get("memory_free") is not None]
    kind, _, index = cfg.device.partition(":")
    if kind == "auto":
        kind = "cuda" if any(d["kind"] == "cuda" for d in devices) else "cpu"
    for d in devices:
        if d["kind"] == kind and (kind != "cuda" or int(d.get("index", 0)) == int(index or 0)):
            return Device(kind=kind, name=str(d["name"]), free_bytes=int(d["memory_free"]))
    return None
