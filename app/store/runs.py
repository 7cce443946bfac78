"""A run's state machine: every change of a run's state, lease (worker, heartbeat, attempts)
or cancel flag is a function here, and nowhere else.

    preparing ─▶ queued ─▶ running ─▶ succeeded | failed | cancelled | pruned
    running ─▶ queued                  the service stopping, or a lost worker (reaped), keeping
                                       its place on the queue; cancelled if a cancel was asked
    preparing | queued ─▶ cancelled    cancel; preparing ─▶ failed: its preparation failed
    running ─▶ pruned                  a sweep's pruner stopped it (checkpoint kept)
    succeeded | failed | cancelled | pruned ─▶ queued                             resume

Each change is a conditional UPDATE naming the state it leaves (and, for a worker, the lease
it must still hold: `app.store.lease`, the same for every job), so a duplicate message, a
second reaper or a process that lost its lease changes nothing. Each returns a `Followup`: the
wake-up to send and the state event to publish once the transaction has committed. Reads are
in `app.store.run_queries`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app.store import lease
from app.store.db import get_db
from app.store.errors import ConflictError
from app.store.event_wire import RunEvent, run_state
from app.store.followup import Followup
from app.store.history import Batch, Chain, log_row, write_batch
from app.store.lease import Cancel, Change, Held, Lease, Then
from app.store.models import Checkpoint, Preparation, Run, utcnow
from app.store.queues import TRAIN
from app.store.run_queries import get_run
from app.store.states import FINISHED_RUN_STATES, FailureReason, PrepState, RunState

WAITING = (RunState.PREPARING, RunState.QUEUED)


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


def _failed(reason: FailureReason, message: str, now: datetime) -> dict[str, Any]:
    return {
        "state": RunState.FAILED,
        "failure_reason": reason,
        "failure_message": message,
        "finished_at": now,
    }


def _moved(followup: Followup, run: Run) -> Followup:
    """Publish the run's new state (`done` for SSE clients when it is a finished one)."""
    followup.publish(run.id, RunEvent("state", run_state(run)))
    return followup


def _wake(followup: Followup, run_id: int, queue: str) -> None:
    """The run's wake-up, on the train queue a worker able to run it consumes."""
    followup.enqueue(TRAIN, run_id, queue=queue)


def _reread(session: Session, run_id: int) -> Run:
    query = select(Run).where(Run.id == run_id).execution_options(populate_existing=True)
    return session.scalars(query).one()


# --- the API's transitions: the caller commits the session, then sends the followup ---


@dataclass(frozen=True)
class NewRun:
    """A checked run as the store keeps it (`app.planning.run_plan` checks and builds it)."""

    name: str
    dataset_id: int
    tokenizer: str
    val_fraction: float
    preset: str | None
    config: dict[str, Any]  # every knob, the derived ones included
    devices: dict[str, Any] | None  # GPUs / processes asked for
    queue: str  # the train queue that holds it (`app.planning.routing.queue_for`)


def insert_run(session: Session, *, new: NewRun, preparation: Preparation) -> tuple[Run, Followup]:
    """Store a checked run: queued when its split is prepared, else preparing (the prepare job
    promotes it, `promote_waiting_runs`)."""
    ready = preparation.state == PrepState.READY
    now = utcnow()
    run = Run(
        name=new.name,
        dataset_id=new.dataset_id,
        preparation_id=preparation.id,
        tokenizer=new.tokenizer,
        val_fraction=new.val_fraction,
        preset=new.preset,
        config=new.config,
        devices=new.devices,
        queue=new.queue,
        state=RunState.QUEUED if ready else RunState.PREPARING,
        cancel_requested=False,
        iter=0,
        max_iters=new.config["max_iters"],
        attempts=0,
        created_at=now,
        queued_at=now if ready else None,
    )
    session.add(run)
    session.flush()
    followup = Followup()
    if ready:
        _wake(followup, run.id, run.queue)
    return run, followup


def cancel_run(session: Session, *, run_id: int) -> tuple[Run, Followup]:
    """Waiting runs end at once; a running one gets the flag its training process polls (it
    checkpoints, stops and records `cancelled` itself)."""
    run = get_run(session, run_id=run_id)
    if run.state in FINISHED_RUN_STATES:
        raise ConflictError(f"run {run_id} has already {run.state}", field="state")
    ended = False
    for _ in range(3):  # it may move between waiting and running meanwhile: ask again
        ended = bool(
            session.execute(
                update(Run)
                .where(Run.id == run_id, Run.state.in_(WAITING))
                .values(state=RunState.CANCELLED, finished_at=utcnow(), cancel_requested=True)
            ).rowcount
        )
        # running: ask its process to stop (the lease ends it cancelled if the worker is lost)
        if (
            ended
            or session.execute(
                update(Run)
                .where(Run.id == run_id, Run.state == RunState.RUNNING)
                .values(cancel_requested=True)
            ).rowcount
        ):
            break
    session.flush()
    session.refresh(run)
    followup = Followup()
    if ended:
        _moved(followup, run)
    return run, followup


def resumable(session: Session, *, run_id: int) -> Run:
    """A finished run with its data and a checkpoint to continue from; else a ConflictError
    saying why not."""
    run = get_run(session, run_id=run_id)
    if run.state not in FINISHED_RUN_STATES:
        raise ConflictError(
            f"run {run_id} is {run.state}; only a finished run resumes", field="state"
        )
    if run.dataset_id is None or run.preparation_id is None:
        raise ConflictError(f"run {run_id}'s dataset was deleted; nothing to train on")
    has_ckpt = session.scalar(
        select(Checkpoint.id).where(Checkpoint.run_id == run_id, Checkpoint.name == "ckpt.pt")
    )
    if not has_ckpt:
        raise ConflictError(f"run {run_id} has no checkpoint to resume from; clone it instead")
    return run


def resume_run(
    session: Session,
    *,
    run: Run,
    config: dict[str, Any],
    devices: dict[str, Any] | None,
    queue: str,
    max_iters_asked: int | None,
) -> tuple[Run, Followup]:
    """Queue a finished run again (`resumable`, checked by `app.planning.run_plan`) with its
    config and devices, on `queue`; its training process continues from runs/<id>/ckpt.pt."""
    if run.iter >= config["max_iters"]:
        asked = f"; {max_iters_asked:,} would add none" if max_iters_asked is not None else ""
        raise ConflictError(
            f"run {run.id} has already trained {run.iter:,} iterations{asked}: to train on, "
            f"set max_iters above {run.iter:,}",
            field="max_iters",
        )
    result = session.execute(
        update(Run)
        .where(Run.id == run.id, Run.state.in_(FINISHED_RUN_STATES))
        .values(
            config=config,
            max_iters=config["max_iters"],
            devices=devices,
            queue=queue,
            state=RunState.QUEUED,
            queued_at=utcnow(),
            finished_at=None,
            failure_reason=None,
            failure_message=None,
            cancel_requested=False,
            attempts=0,
            worker_id=None,
            woken_at=utcnow(),
        )
    )
    if result.rowcount != 1:
        raise ConflictError(f"run {run.id} changed meanwhile; try again", field="state")
    session.flush()
    session.refresh(run)
    followup = Followup()
    _wake(followup, run.id, run.queue)
    return run, _moved(followup, run)


def delete_run(session: Session, *, run_id: int) -> None:
    """A finished run and (by the foreign keys) its history; refused while it is active."""
    run = get_run(session, run_id=run_id)
    result = session.execute(
        delete(Run).where(Run.id == run_id, Run.state.in_(FINISHED_RUN_STATES))
    )
    if result.rowcount != 1:
        raise ConflictError(f"run {run_id} is {run.state}; cancel it first", field="state")
    session.expunge(run)


# --- a preparation ended (called inside `app.store.preparations`' transactions) ---


def promote_waiting_runs(session: Session, *, prep_id: int) -> Followup:
    """preparing → queued for the runs that waited on this preparation."""
    followup = Followup()
    for run in _waiting_on(session, prep_id):
        moved = session.execute(
            update(Run)
            .where(Run.id == run.id, Run.state == RunState.PREPARING)
            .values(state=RunState.QUEUED, queued_at=utcnow())
        )
        if moved.rowcount:
            _wake(followup, run.id, run.queue)
            _moved(followup, _reread(session, run.id))
    return followup


def fail_waiting_runs(
    session: Session, *, prep_id: int, reason: FailureReason, message: str
) -> Followup:
    """The preparation failed, and so does every run waiting for it."""
    followup = Followup()
    values = _failed(reason, f"preparing the data failed: {message}", utcnow())
    for run in _waiting_on(session, prep_id):
        moved = session.execute(
            update(Run).where(Run.id == run.id, Run.state == RunState.PREPARING).values(**values)
        )
        if moved.rowcount:
            _moved(followup, _reread(session, run.id))
    return followup


def _waiting_on(session: Session, prep_id: int) -> list[Run]:
    query = select(Run).where(Run.preparation_id == prep_id, Run.state == RunState.PREPARING)
    return list(session.scalars(query))


# --- the job side: the lease (app.store.lease) with a run's own writes ---


def _changed(session: Session, run_id: int, change: Change) -> Followup:
    """A run whose state the lease changed publishes it, with why an attempt ended in its
    log (shown on its page)."""
    followup = _note(session, run_id, change.note) if change.note else Followup()
    return _moved(followup, _reread(session, run_id))


RUNS = Lease(
    name="runs",
    model=Run,
    queued=RunState.QUEUED,
    running=RunState.RUNNING,
    wake=TRAIN,
    failed=_failed,
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


def prune_run(session: Session, *, run_id: int) -> Followup:
    """A sweep's pruner stops a running trial: its process stops as for a cancel, and its
    end is `pruned`; a trial still waiting is ended pruned at once. Nothing for a finished
    run."""
    ended = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.state.in_(WAITING))
        .values(state=RunState.PRUNED, finished_at=utcnow(), prune_requested=True)
    ).rowcount
    if not ended:
        session.execute(
            update(Run)
            .where(Run.id == run_id, Run.state == RunState.RUNNING)
            .values(cancel_requested=True, prune_requested=True)
        )
    session.flush()
    followup = Followup()
    if ended:
        _moved(followup, _reread(session, run_id))
    return followup


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
