"""The training process of one run: `python -m worker.jobs.training_process <run_id> <owner>`.

Started by the train task as a child process; it alone imports torch and owns the device,
and it ends every run in a readable state: succeeded, cancelled, or failed with a reason.

A run of several processes starts it through torchrun, once per rank (RANK in the
environment). Rank 0 is the one above: it reports, heartbeats and ends the run. The other
ranks only train: they read the run's config, stop with the group, and never write."""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import errno
import logging
import os
import signal
import sys
import traceback
from pathlib import Path

from app.planning.budget_run import BUDGET_TAG
from app.store.models import Run, utcnow
from app.store.run_lease import Outcome
from app.store.run_queries import load_claimed_run
from app.store.settings import Settings, get_settings
from app.store.states import FailureReason, RunState
from worker.engine.config.train_config import TrainConfig
from worker.engine.errors import DiskFullError, DivergedError, EngineError
from worker.engine.events import TrainCallbacks, TrainResult
from worker.engine.wait_policy import choose_wait_policy
from worker.jobs.oom import WHAT_TO_LOWER, tried
from worker.jobs.run_reporter import RunReporter

log = logging.getLogger("worker.jobs.training_process")


def build_config(run: Run, settings: Settings) -> TrainConfig:
    out_dir = settings.run_dir(run.id)
    out_dir.mkdir(parents=True, exist_ok=True)
    values = {
        **run.config,
        "data_dir": str(settings.prepared_dir(run.dataset_id, run.tokenizer, run.val_fraction)),
        "out_dir": str(out_dir),
        # A run with a checkpoint continues it: after cancel, resume or a lost worker.
        "init_from": "resume" if (out_dir / "ckpt.pt").is_file() else run.config["init_from"],
    }
    if values.get("wandb_run_name") in (None, "", "run"):
        values["wandb_run_name"] = run.name
    return TrainConfig.from_mapping(values)


# What a budget run keeps for after its loop: the last checkpoint and the process's exit
FINISH_RESERVE_S = 2.0


def within_budget(cfg: TrainConfig, run: Run) -> TrainConfig:
    """A budget run's loop gets what is left of the budget since the run started (its
    process's start, torch's import among it, can take longer than the planner reserved on
    a loaded machine); a resumed run keeps what its checkpoint says it spent."""
    budget = cfg.tags.get(BUDGET_TAG)
    if not budget or cfg.init_from == "resume" or run.started_at is None:
        return cfg
    left = float(budget) - (utcnow() - run.started_at).total_seconds() - FINISH_RESERVE_S
    return dataclasses.replace(cfg, time_budget_s=max(1.0, min(cfg.time_budget_s, left)))


def _is_oom(exc: BaseException) -> bool:
    import torch

    text = str(exc).lower()
    return isinstance(exc, torch.OutOfMemoryError | MemoryError) or (
        isinstance(exc, RuntimeError)
        and ("out of memory" in text or "can't allocate memory" in text)  # CUDA, CPU
    )


def _is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def _die_with_parent() -> None:
    """A rank of torchrun's dies with the agent (Linux), so no rank is left holding a GPU."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the agent was already gone
        sys.exit(1)


def follow(run_id: int, owner: str, rank: int) -> int:
    """A rank other than 0: train with the group; rank 0 reports and ends the run."""
    from worker.engine.training.loop import train

    run = load_claimed_run(run_id, owner)
    if run is None:
        return 0
    cfg = build_config(run, get_settings())

    class StopWithTheGroup(TrainCallbacks):
        stopping = False

        def should_stop(self) -> bool:
            return self.stopping

    callbacks = StopWithTheGroup()

    def handler(_signum: int, _frame: object) -> None:
        callbacks.stopping = True  # every rank stops at the same step (the loop agrees)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    try:
        train(cfg, callbacks)
    except Exception:
        # rank 0 says what happened; this rank's traceback goes to process.log
        log.exception("run %s: rank %s stopped", run_id, rank)
        return 1
    return 0


def main(run_id: int, owner: str) -> int:
    rank, several = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")) > 1
    if several:
        _die_with_parent()
    if rank != 0:
        return follow(run_id, owner, rank)
    settings = get_settings()
    run = load_claimed_run(run_id, owner)
    if run is None:
        return 0  # not ours (any more)
    cfg = build_config(run, settings)
    reporter = RunReporter(
        run_id=run_id, owner=owner, settings=settings, log_path=Path(cfg.out_dir) / "train.log"
    )
    _stop_on_signals(reporter)
    callbacks: TrainCallbacks = reporter
    if cfg.wandb_log:
        from worker.jobs.wandb_log import with_wandb

        callbacks = with_wandb(reporter, cfg, reporter.on_message)
    iter_num = None
    group_failed = False
    try:
        from worker.engine.training.loop import train

        result = train(within_budget(cfg, run), callbacks)
        iter_num = result.iter_num
        outcome = _ended(result, reporter)
    except (DivergedError, DiskFullError) as exc:
        outcome = _failure(FailureReason(exc.reason), exc.message)
    except EngineError as exc:
        reason = FailureReason.DATA if exc.reason == "data" else FailureReason.CONFIG
        field = f" ({exc.field})" if exc.field else ""
        outcome = _failure(reason, exc.message + field)
    except Exception as exc:
        if _is_oom(exc):
            first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            message = f"out of memory ({tried(cfg.to_dict())}): {first_line}; {WHAT_TO_LOWER}"
            outcome = _failure(FailureReason.OOM, message)
        elif _is_disk_full(exc):
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            outcome = _failure(FailureReason.DISK_FULL, f"the disk is full{where}: {exc}")
        elif several:
            # Most likely another rank died and took the group with it: like a lost
            # process, the train task puts the run back on the queue (or fails it in the end)
            traceback.print_exc()
            outcome, group_failed = None, True
        else:
            reporter.on_message(traceback.format_exc().rstrip())
            outcome = _failure(FailureReason.INTERNAL, f"{type(exc).__name__}: {exc}")
    finally:
        getattr(callbacks, "close", lambda: None)()
    reporter.finish(outcome, iter_num)
    # A multi-process run that ended in an error exits non-zero, so that torchrun stops the
    # other ranks (they may be waiting for this one in a collective).
    return 1 if several and (group_failed or iter_num is None) else 0


def _ended(result: TrainResult, reporter: RunReporter) -> Outcome | None:
    """How a run that trained without an error ends; None: the reaper decides."""
    if result.status == "completed":
        return Outcome(RunState.SUCCEEDED)
    if result.status == "early_stopped":  # finished: the message says why, on the run's page
        return Outcome(RunState.SUCCEEDED, failure_message=result.message)
    if reporter.cancelled:
        return Outcome(RunState.CANCELLED)
    if reporter.interrupted and not reporter.lease_lost:
        # The service is shutting down: back on the queue, to resume from the checkpoint.
        return Outcome(RunState.QUEUED)
    return None  # stopped because the lease was lost


def _stop_on_signals(reporter: RunReporter) -> None:
    """SIGTERM or Ctrl-C: checkpoint and stop, like a cancel, but the run is re-queued."""

    def handler(_signum: int, _frame: object) -> None:
        reporter.interrupted = True
        reporter.stop_requested.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _failure(reason: FailureReason, message: str) -> Outcome:
    return Outcome(RunState.FAILED, failure_reason=reason, failure_message=message[:4000])


if __name__ == "__main__":
    choose_wait_policy()  # before torch loads (train() imports it)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sys.exit(main(int(sys.argv[1]), sys.argv[2]))
