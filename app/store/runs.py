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
wake-up to send and the state event to publish once the transaction has committed. Here the
API's, a preparation's and a sweep's changes; the training process's (claim, heartbeat, finish,
lose) are in `app.store.run_lease`; reads in `app.store.run_queries`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app.store import lease
from app.store.errors import ConflictError
from app.store.event_wire import RunEvent, run_state
from app.store.followup import Followup
from app.store.models import Checkpoint, Preparation, Run, utcnow
from app.store.queues import TRAIN
from app.store.run_queries import get_run
from app.store.states import FINISHED_RUN_STATES, FailureReason, PrepState, RunState

WAITING = (RunState.PREPARING, RunState.QUEUED)
failed = lease.failed_with_reason(RunState.FAILED)  # a failed run's columns


def moved(followup: Followup, run: Run) -> Followup:
    """Publish the run's new state (`done` for SSE clients when it is a finished one)."""
    followup.publish(run.id, RunEvent("state", run_state(run)))
    return followup


def _wake(followup: Followup, run_id: int, queue: str) -> None:
    """The run's wake-up, on the train queue a worker able to run it consumes."""
    followup.enqueue(TRAIN, run_id, queue=queue)


def reread(session: Session, run_id: int) -> Run:
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
        moved(followup, run)
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
    return run, moved(followup, run)


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
        updated = session.execute(
            update(Run)
            .where(Run.id == run.id, Run.state == RunState.PREPARING)
            .values(state=RunState.QUEUED, queued_at=utcnow())
        )
        if updated.rowcount:
            _wake(followup, run.id, run.queue)
            moved(followup, reread(session, run.id))
    return followup


def fail_waiting_runs(
    session: Session, *, prep_id: int, reason: FailureReason, message: str
) -> Followup:
    """The preparation failed, and so does every run waiting for it."""
    followup = Followup()
    values = failed(reason, f"preparing the data failed: {message}", utcnow())
    for run in _waiting_on(session, prep_id):
        updated = session.execute(
            update(Run).where(Run.id == run.id, Run.state == RunState.PREPARING).values(**values)
        )
        if updated.rowcount:
            moved(followup, reread(session, run.id))
    return followup


def _waiting_on(session: Session, prep_id: int) -> list[Run]:
    query = select(Run).where(Run.preparation_id == prep_id, Run.state == RunState.PREPARING)
    return list(session.scalars(query))


# --- a sweep's pruner (called inside the sweeper's transaction) ---


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
        moved(followup, reread(session, run_id))
    return followup
