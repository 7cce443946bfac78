"""studio.train: claim a queued run and train it in a child process that owns the device."""

from __future__ import annotations

import ctypes
import logging
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from app.store import runs
from app.store.queues import TRAIN
from app.store.run_queries import load_claimed_run
from app.store.settings import get_settings
from worker.jobs.celery_app import celery_app
from worker.jobs.identity import worker_id
from worker.jobs.oom import WHAT_TO_LOWER, oom_kills, tried

log = logging.getLogger(__name__)
STDERR_TAIL = 4000


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


@celery_app.task(name=TRAIN.name, acks_late=True)
def train_run(run_id: int) -> str:
    owner = worker_id()
    claimed = runs.claim_run(run_id, owner)
    if claimed is None:
        log.info("run %s is not queued (duplicate message or cancelled); nothing to do", run_id)
        return "skipped"
    claimed.send()
    run = load_claimed_run(run_id, owner)
    config = run.config if run is not None else {}
    settings = get_settings()
    run_dir = settings.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    stderr_path = run_dir / "process.log"
    kills_before = oom_kills()
    with stderr_path.open("ab") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-m", "worker.jobs.training_process", str(run_id), owner],
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        # Shutdown (SIGTERM to this process group): the training process checkpoints and
        # re-queues its run; this process waits for it instead of dying first.
        previous = signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
        try:
            code = child.wait()
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
        cause = f"the training process {how}\n{_tail(stderr_path)}".strip()[-STDERR_TAIL:]
    runs.crashed_run(
        run_id,
        owner,
        cause=cause,
        out_of_memory=killed_for_memory,
        max_attempts=settings.max_attempts,
    ).send()
    return "crashed"


def _oom_advice(config: dict[str, Any]) -> str:
    """What was tried, and what to lower."""
    return (
        f"the kernel's out-of-memory killer stopped the training process ({tried(config)}); "
        f"{WHAT_TO_LOWER}, and resume"
    )
