"""A run's state machine: every change of a run's state, lease (worker, heartbeat, attempts)
or cancel flag is a function here, and nowhere else.

    preparing ─▶ queued ─▶ running ─▶ succeeded | failed | cancelled
    running ─▶ queued                  the service stopping, or a lost worker (reaped)
    preparing | queued ─▶ cancelled    cancel; preparing ─▶ failed: its preparation failed
    succeeded | failed | cancelled ─▶ queued                                      resume

Each change is a conditional UPDATE naming the state it leaves (and, for a worker, the lease
it must still hold), so a duplicate message, a second reaper or a process that lost its lease
changes nothing. Each returns a `Followup`: the wake-up to send and the state event to publish
once the transaction has committed. Reads are in `app.store.run_queries`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypedDict

from sqlalchemy import ColumnElement, and_, delete, select, update
from sqlalchemy.orm import Session

from app.store.db import get_db
from app.store.errors import ConflictError
from app.store.event_wire import RunEvent, run_state
from app.store.followup import Followup
from app.store.history import Batch, Chain, log_row, write_batch
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

    def values(self, now: datetime) -> dict[str, Any]:
        if self.state == RunState.QUEUED:
            return {**_back_on_queue(now), "finished_at": None}
        return {
            "state": self.state,
            "finished_at": now,
            "failure_reason": self.failure_reason,
            "failure_message": self.failure_message,
        }


def _back_on_queue(now: datetime) -> dict[str, Any]:
    """A running run handed back: queued again, held by nobody, to resume from its checkpoint."""
    return {"state": RunState.QUEUED, "queued_at": now, "worker_id": None, "placement": None}


def _failed(reason: FailureReason, message: str, now: datetime) -> dict[str, Any]:
    return {
        "state": RunState.FAILED,
        "failure_reason": reason,
        "failure_message": message,
        "finished_at": now,
    }


@dataclass
class Report:
    held: bool  # False: the lease is gone (reaped, or finished); nothing was written
    followup: Followup = field(default_factory=Followup)


def _moved(followup: Followup, run: Run) -> Followup:
    """Publish the run's new state (`done` for SSE clients when it is a finished one)."""
    followup.publish(run.id, RunEvent("state", run_state(run)))
    return followup


def _wake(followup: Followup, run_id: int, queue: str) -> None:
    """The run's wake-up, on the train queue a worker able to run it consumes."""
    followup.enqueue(TRAIN, run_id, queue=queue)


def _held(run_id: int, owner: str) -> ColumnElement[bool]:
    return and_(Run.id == run_id, Run.worker_id == owner, Run.state == RunState.RUNNING)


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
    waiting = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.state.in_(WAITING))
        .values(state=RunState.CANCELLED, finished_at=utcnow(), cancel_requested=True)
    )
    if waiting.rowcount == 0:  # it started meanwhile: ask the training process to stop
        session.execute(
            update(Run)
            .where(Run.id == run_id, Run.state == RunState.RUNNING)
            .values(cancel_requested=True)
        )
    session.flush()
    session.refresh(run)
    followup = Followup()
    if waiting.rowcount:
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


# --- the job side's transitions: each is its own transaction ---


def claim_run(run_id: int, owner: str, placement: dict[str, Any] | None = None) -> Followup | None:
    """queued → running, held by `owner`, on `placement` (host, worker, devices); None when
    the run is not queued (a duplicate or redelivered message, or a run cancelled meanwhile)."""
    now = utcnow()
    with get_db().transaction() as session:
        claimed = session.execute(
            update(Run)
            .where(Run.id == run_id, Run.state == RunState.QUEUED)
            .values(
                state=RunState.RUNNING,
                worker_id=owner,
                heartbeat_at=now,
                attempts=Run.attempts + 1,
                started_at=now,
                cancel_requested=False,
                phase=None,  # this attempt's process has not said yet
                placement=placement,
            )
        )
        if claimed.rowcount != 1:
            return None
        return _moved(Followup(), _reread(session, run_id))


def record(
    run_id: int,
    owner: str,
    *,
    batch: Batch | None = None,
    progress: Progress | None = None,
    outcome: Outcome | None = None,
    chain: Chain | None = None,
) -> Report:
    """One write of a training process, if it still holds the lease: the rows it buffered, its
    progress and heartbeat, and with `outcome` the run's end (or its return to the queue).
    `chain` is the writer's, advanced past the rows written (see `history.Chain`)."""
    now = utcnow()
    values: dict[str, Any] = {**(progress or {}), "heartbeat_at": now}
    if outcome is not None:
        values.update(outcome.values(now))
    with get_db().transaction() as session:
        held = session.execute(update(Run).where(_held(run_id, owner)).values(**values))
        if held.rowcount != 1:
            return Report(held=False)
        followup = (
            write_batch(session, run_id=run_id, batch=batch, chain=chain) if batch else Followup()
        )
        if outcome is not None:
            run = _reread(session, run_id)
            if outcome.state == RunState.QUEUED:
                _wake(followup, run_id, run.queue)
            _moved(followup, run)
    return Report(held=True, followup=followup)


def crashed_run(
    run_id: int, owner: str, *, cause: str, out_of_memory: bool, max_attempts: int
) -> Followup:
    """The training process died without recording an outcome (a crash, a signal, the OOM
    killer). Killed for memory: failed as out-of-memory, never retried unchanged. Otherwise it
    goes back on the queue to resume from its newest checkpoint while attempts remain (as a
    lost worker's run does), with the cause in its log; then it fails as internal."""
    now = utcnow()
    with get_db().transaction() as session:
        run = session.scalars(select(Run).where(_held(run_id, owner))).one_or_none()
        if run is None:
            return Followup()
        if out_of_memory:
            values = _failed(FailureReason.OOM, cause, now)
        elif run.attempts < max_attempts:
            values = _back_on_queue(now)
        else:
            message = f"gave up after {run.attempts} attempts; the last: {cause}"
            values = _failed(FailureReason.INTERNAL, message, now)
        session.execute(update(Run).where(_held(run_id, owner)).values(**values))
        followup = _note(session, run_id, f"attempt {run.attempts} ended: {cause}")
        if values["state"] == RunState.QUEUED:
            _wake(followup, run_id, run.queue)
        return _moved(followup, _reread(session, run_id))


def _note(session: Session, run_id: int, line: str) -> Followup:
    """A line in the run's log saying what happened to it (shown on its page)."""
    return write_batch(session, run_id=run_id, batch=Batch(logs=[log_row(line, utcnow())]))


@dataclass
class ReapedRuns:
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    followup: Followup = field(default_factory=Followup)


def reap_stale_runs(*, stale_after_s: float, max_attempts: int) -> ReapedRuns:
    """Running runs whose heartbeat went stale go back on the queue (to resume from their
    newest checkpoint), until `max_attempts`; then they fail as worker_lost."""
    now = utcnow()
    cutoff = now - timedelta(seconds=stale_after_s)
    out = ReapedRuns()
    with get_db().transaction() as session:
        stale = session.execute(
            select(Run.id, Run.attempts, Run.queue).where(
                Run.state == RunState.RUNNING, Run.heartbeat_at < cutoff
            )
        ).all()
        for run_id, attempts, queue in stale:
            guard = update(Run).where(
                Run.id == run_id, Run.state == RunState.RUNNING, Run.heartbeat_at < cutoff
            )
            if attempts >= max_attempts:
                message = f"the worker stopped answering {attempts} times; giving up"
                values = _failed(FailureReason.WORKER_LOST, message, now)
            else:
                values = _back_on_queue(now)
            if not session.execute(guard.values(**values)).rowcount:
                continue  # another reaper, or the process woke up
            if values["state"] == RunState.QUEUED:
                out.requeued.append(run_id)
                _wake(out.followup, run_id, queue)
                note = "the worker stopped answering; back on the queue to resume"
            else:
                out.failed.append(run_id)
                note = message
            out.followup.extend(_note(session, run_id, f"attempt {attempts} ended: {note}"))
            _moved(out.followup, _reread(session, run_id))
    return out
