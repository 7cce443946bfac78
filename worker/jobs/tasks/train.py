"""studio.train: claim the oldest queued run of the wake-up's queue and train it in a child
process that owns the device."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from celery.exceptions import Reject

from app.planning.routing import processes_of
from app.store import run_lease
from app.store.deployment_id import database_id
from app.store.queues import TRAIN
from app.store.run_queries import load_claimed_run, queue_of, queued_in_order
from app.store.settings import get_settings
from worker.engine.training.launch import torchrun_command
from worker.jobs import stopping
from worker.jobs.celery_app import celery_app
from worker.jobs.gpu_locks import Placement, host_gpus, reserve
from worker.jobs.identity import worker_id
from worker.jobs.oom import WHAT_TO_LOWER, oom_kills, tried

log = logging.getLogger(__name__)
STDERR_TAIL = 4000
# A run this worker cannot place now (its GPUs are busy) goes back to its queue after this
# pause, for this worker or another with GPUs free to take; the row stays queued meanwhile.
BUSY_RETRY_S = 2.0
CANDIDATES = 16  # the oldest queued runs of its queue a wake-up looks at
# While the training process starts (an interpreter, and for several processes torchrun's
# agent and its ranks, each importing torch: seconds, or more on a busy host) this process
# renews the run's lease, so the reaper does not take a run whose process is still starting.
# Past this, only the training process's own heartbeats count (a hung one is reaped).
STARTUP_GRACE_S = 120.0


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it if this process dies (Linux), so a killed worker
    never leaves a training process heartbeating for a run the reaper hands to another."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # elsewhere the child notices its parent change and stops by itself


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - STDERR_TAIL))
            return f.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _reserve(run_id: int, devices: dict[str, Any] | None, owner: str) -> Placement | None:
    """The devices for a queued run on this host, locked for it; None: not free here now."""
    return reserve(
        run_id=run_id,
        devices=devices,
        worker=f"{owner.rsplit(':', 1)[0]}:{os.getppid()}",  # the registry's name of this worker
        deployment=database_id() or "studio",
        gpus_here=host_gpus(),
        runs_per_gpu=get_settings().runs_per_gpu,
    )


def take(run_id: int, owner: str) -> tuple[int, Placement] | None:
    """The run this wake-up starts: the oldest queued run of `run_id`'s queue that this host
    can place now, claimed (first queued, first started, whichever of the queue's wake-ups
    comes first; a run whose devices are busy does not hold up one that fits). None: nothing
    waits on that queue (a duplicate wake-up). When every waiting run's devices are busy
    here, the wake-up goes back to its queue, for this worker or another, after a pause."""
    queue = queue_of(run_id)
    if queue is None:
        return None
    busy = False
    for candidate, devices in queued_in_order(queue, limit=CANDIDATES):
        placement = _reserve(candidate, devices, owner)
        if placement is None:
            busy = True
            continue
        claimed = run_lease.claim(candidate, owner, placement=placement.record())
        if claimed.held:
            claimed.followup.send()
            return candidate, placement
        placement.close()  # another worker took it meanwhile: the next one
    if not busy:
        return None
    run_lease.woken(run_id)  # its wake-up is in a live worker's hands: the reaper waits
    log.info("queue %s waits for free GPUs; the wake-up of run %s goes back", queue, run_id)
    time.sleep(BUSY_RETRY_S)
    raise Reject(f"queue {queue}: no free GPUs here", requeue=True)


@celery_app.task(name=TRAIN.name, acks_late=True)
def train_run(run_id: int) -> str:
    owner = worker_id()
    taken = take(run_id, owner)
    if taken is None:
        log.info("nothing queued on run %s's queue (a duplicate wake-up); nothing to do", run_id)
        return "skipped"
    claimed, placement = taken
    try:
        with stopping.noted():  # a stop while it starts reaches its training process
            return _train(claimed, owner, placement)
    finally:
        placement.close()  # the GPUs are free for the next run


def _train(run_id: int, owner: str, placement: Placement) -> str:
    run = load_claimed_run(run_id, owner)
    config = run.config if run is not None else {}
    processes = processes_of(run.devices if run is not None else None)
    settings = get_settings()
    run_dir = settings.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    stderr_path = run_dir / "process.log"
    kills_before = oom_kills()
    args = [str(run_id), owner]
    module = "worker.jobs.training_process"
    # Several processes: torchrun's agent starts the ranks and ends them all when one dies
    # (worker.engine.training.launch says why the command and not the library).
    command = (
        torchrun_command(processes, module, args)
        if processes > 1
        else [sys.executable, "-m", module, *args]
    )
    with stderr_path.open("ab") as stderr:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
            env={**os.environ, **placement.env},
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        # Shutdown (SIGTERM to this process group): the training process checkpoints and
        # re-queues its run; this process waits for it instead of dying first.
        previous = signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
        if stopping.requested():  # the signal came while it was starting: pass it on now
            child.send_signal(signal.SIGTERM)
        try:
            code = _wait_renewing(child, run_id, owner, settings.heartbeat_interval_s)
        finally:
            signal.signal(signal.SIGTERM, previous)
    if code == 0:
        return "done"
    # The process died without recording an outcome (a crash, the OOM killer, a bug).
    killed_for_memory = (
        code == -signal.SIGKILL and kills_before is not None and (oom_kills() or 0) > kills_before
    )
    if killed_for_memory:
        cause = _oom_advice(config)
    else:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        head = f"the training process {how}"  # kept whole: the tail is cut, not what happened
        cause = f"{head}\n{_tail(stderr_path)[-(STDERR_TAIL - len(head) - 1) :]}".strip()
    run_lease.lose(
        run_id,
        owner,
        cause=cause,
        out_of_memory=killed_for_memory,
        max_attempts=settings.max_attempts,
    ).followup.send()
    return "crashed"


def _wait_renewing(child: subprocess.Popen, run_id: int, owner: str, interval: float) -> int:
    """The child's exit code; meanwhile, for STARTUP_GRACE_S, the lease is renewed."""
    started = time.monotonic()
    while time.monotonic() - started < STARTUP_GRACE_S:
        try:
            return child.wait(timeout=interval)
        except subprocess.TimeoutExpired:
            pass
        try:
            if not run_lease.heartbeat(run_id, owner).held:
                break  # ended, or no longer ours: nothing to renew
        except Exception as exc:  # the database blinked; the next turn tries again
            log.warning("run %s: renewing the lease failed: %s", run_id, exc)
    return child.wait()


def _oom_advice(config: dict[str, Any]) -> str:
    """What was tried, and what to lower."""
    return (
        f"the kernel's out-of-memory killer stopped the training process ({tried(config)}); "
        f"{WHAT_TO_LOWER}, and resume"
    )
