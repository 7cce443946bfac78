"""A run's lease: the training process's side of its state machine (`app.store.runs`), the
one lease (`app.store.lease`) with a run's own writes: its metrics and log rows with each
heartbeat, its placement when claimed, a prune told apart from a cancel when it ends."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.store import lease
from app.store.db import get_db
from app.store.followup import Followup
from app.store.history import Batch, Chain, log_row, write_batch
from app.store.lease import Cancel, Change, Held, Lease, Then
from app.store.models import Run, utcnow
from app.store.queues import TRAIN
from app.store.runs import failed, moved, reread
from app.store.states import FailureReason, RunState


class Progress(TypedDict, total=False):
    """What a training process reports about its run as it goes."""

    iter: int
    max_iters: int
    device: str
    compile: str  # on, off, or "failed: <reason>" (the run went on in eager mode)
    last_train_loss: float
    last_val_loss: float
    best_val_loss: float
    tokens_per_sec: float
    mfu: float | None
    eta_s: float
    phase: str  # a RunPhase


@dataclass(frozen=True)
class Outcome:
    """How a training process ends its run. QUEUED: the service is stopping; the run goes back
    on the queue and resumes from its checkpoint at the next start."""

    state: RunState
    failure_reason: FailureReason | None = None
    failure_message: str | None = None

    def cause(self) -> str:
        """How the attempt ended, in words, for the run's log."""
        if self.state == RunState.QUEUED:
            return "the service is stopping; back on the queue, to resume from its checkpoint"
        if self.state == RunState.FAILED:
            reason = self.failure_reason.value if self.failure_reason else "failed"
            return f"failed ({reason}): {self.failure_message or 'no message'}"
        said = f": {self.failure_message}" if self.failure_message else ""
        return f"{self.state.value}{said}"

    def values(self, now: datetime) -> dict[str, Any]:
        """The columns of a finished run (QUEUED is the lease's `put_back`)."""
        return {
            "state": self.state,
            "finished_at": now,
            "failure_reason": self.failure_reason,
            "failure_message": self.failure_message,
        }


def _changed(session: Session, run_id: int, change: Change) -> Followup:
    """A run whose state the lease changed publishes it, with why an attempt ended in its
    log (shown on its page)."""
    followup = _note(session, run_id, change.note) if change.note else Followup()
    return moved(followup, reread(session, run_id))


RUNS = Lease(
    name="runs",
    model=Run,
    queued=RunState.QUEUED,
    running=RunState.RUNNING,
    wake=TRAIN,
    failed=failed,
    queued_since=(Run.queued_at,),
    queue=Run.queue,
    # queued_at stays: a run put back keeps its place on its queue
    requeued=lambda now: {"placement": None, "finished_at": None},
    cancel=Cancel(
        flag=Run.cancel_requested,
        values=lambda now: {"state": RunState.CANCELLED, "finished_at": now},
        state=RunState.CANCELLED,
    ),
    changed=_changed,
)


def claim(run_id: int, owner: str, placement: dict[str, Any] | None = None) -> Held:
    """queued → running, held by `owner`, on `placement` (host, worker, devices); not held
    when the run is not queued (a duplicate or redelivered message, a run cancelled or taken
    meanwhile) or a cancel was asked."""
    values = {"started_at": utcnow(), "phase": None, "placement": placement}
    return lease.claim(RUNS, run_id, owner, values=values)


def heartbeat(
    run_id: int,
    owner: str,
    *,
    batch: Batch | None = None,
    progress: Progress | None = None,
    chain: Chain | None = None,
) -> Held:
    """One write of a training process, if it still holds the lease: the rows it buffered,
    its progress and heartbeat. `chain` is the writer's, advanced past the rows written
    (see `history.Chain`)."""
    return lease.heartbeat(
        RUNS, run_id, owner, values=dict(progress or {}), then=_rows(run_id, batch, chain)
    )


def finish(
    run_id: int,
    owner: str,
    outcome: Outcome,
    *,
    batch: Batch | None = None,
    progress: Progress | None = None,
    chain: Chain | None = None,
) -> Held:
    """The training process's last write: its rows and progress, and how the run ended (or,
    QUEUED, its return to the queue, keeping its place, as the service stops)."""
    then = _rows(run_id, batch, chain)
    values: dict[str, Any] = dict(progress or {})
    if outcome.state == RunState.CANCELLED and _prune_requested(run_id):
        outcome = replace(outcome, state=RunState.PRUNED)
    if outcome.state == RunState.QUEUED:
        return lease.put_back(RUNS, run_id, owner, values=values, then=then)
    values.update(outcome.values(utcnow()))
    return lease.finish(RUNS, run_id, owner, values=values, then=then)


def _prune_requested(run_id: int) -> bool:
    """Was the stop its process obeyed a sweep's prune? (Set with the cancel flag, before.)"""
    with get_db().session() as session:
        return bool(session.scalar(select(Run.prune_requested).where(Run.id == run_id)))


def _rows(run_id: int, batch: Batch | None, chain: Chain | None) -> Then:
    def write(session: Session) -> Followup:
        if not batch:
            return Followup()
        return write_batch(session, run_id=run_id, batch=batch, chain=chain)

    return write


def lose(run_id: int, owner: str, *, cause: str, out_of_memory: bool, max_attempts: int) -> Held:
    """The training process died without recording an outcome (a crash, a signal, the OOM
    killer). Killed for memory: failed as out-of-memory, never retried unchanged. Otherwise
    it goes back on the queue to resume from its newest checkpoint while attempts remain (as
    a lost worker's run does), with the cause in its log; then it fails as internal. A run
    whose cancel was asked ends cancelled."""
    if not out_of_memory:
        return lease.lose(
            RUNS,
            run_id,
            owner,
            cause=cause,
            reason=FailureReason.INTERNAL,
            max_attempts=max_attempts,
        )

    def note(session: Session) -> Followup:
        attempts = session.scalar(select(Run.attempts).where(Run.id == run_id))
        return _note(session, run_id, f"attempt {attempts} ended: {cause}")

    return lease.fail(RUNS, run_id, owner, FailureReason.OOM, cause, then=note)


def woken(run_id: int) -> None:
    """The run's wake-up is in a live worker's hands (waiting for devices): not re-sent."""
    lease.woken(RUNS, [run_id])


def _note(session: Session, run_id: int, line: str) -> Followup:
    """A line in the run's log saying what happened to it (shown on its page)."""
    return write_batch(session, run_id=run_id, batch=Batch(logs=[log_row(line, utcnow())]))
