"""Runs: insert (a `RunPlan` from `app.crud.run_plan`, which checks a new run or a clone;
a dry run stops there), list, cancel, resume, delete. Jobs are enqueued by the caller after
commit (see `app.api.routes.runs`), from the `Followup` these functions return."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.core.errors import ConflictError, NotFoundError
from app.core.models import Checkpoint, Run, utcnow
from app.core.states import ACTIVE_RUN_STATES, FINISHED_RUN_STATES, PrepState, RunState
from app.crud.datasets import request_preparation
from app.crud.run_config import check_config, stored_config, user_fields
from app.crud.run_plan import RunPlan
from worker.engine.config import TrainConfig


@dataclass
class Followup:
    """Jobs to enqueue once the transaction has committed."""

    prepare: list[int] = field(default_factory=list)
    train: list[int] = field(default_factory=list)


def insert_run(session: Session, *, plan: RunPlan) -> tuple[Run, Followup]:
    """Store a checked run: queued when its split is prepared, else preparing (and the
    preparation requested)."""
    prep, needs_job = request_preparation(
        session, dataset=plan.dataset, tokenizer=plan.tokenizer, val_fraction=plan.val_fraction
    )
    ready = prep.state == PrepState.READY
    now = utcnow()
    run = Run(
        name=plan.name,
        dataset_id=plan.dataset.id,
        preparation_id=prep.id,
        tokenizer=plan.tokenizer,
        val_fraction=plan.val_fraction,
        preset=plan.preset,
        config=stored_config(plan.cfg),
        state=RunState.QUEUED if ready else RunState.PREPARING,
        cancel_requested=False,
        iter=0,
        max_iters=plan.cfg.max_iters,
        attempts=0,
        created_at=now,
        queued_at=now if ready else None,
    )
    session.add(run)
    session.flush()
    followup = Followup()
    if ready:
        followup.train.append(run.id)
    elif needs_job:
        followup.prepare.append(prep.id)
    return run, followup


def get_run(session: Session, *, run_id: int) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise NotFoundError(f"no run {run_id}", field="run_id")
    return run


def list_runs(
    session: Session,
    *,
    state: str | None = None,
    dataset_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Run], int]:
    filters = []
    if state is not None:
        filters.append(Run.state == state)
    if dataset_id is not None:
        filters.append(Run.dataset_id == dataset_id)
    total = session.scalar(select(func.count()).select_from(Run).where(*filters)) or 0
    query = select(Run).where(*filters).order_by(Run.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(query)), total


def queue_positions(session: Session, runs: list[Run] | None = None) -> dict[int, int]:
    """Position on the train queue (1 = next, by time queued) of the given runs that are
    queued, or of every queued run: one query, ranking the queued runs by the queue index."""
    wanted = None if runs is None else [r.id for r in runs if r.state == RunState.QUEUED]
    if wanted == []:
        return {}
    ranked = (
        select(
            Run.id.label("id"),
            func.row_number().over(order_by=(Run.queued_at, Run.id)).label("position"),
        )
        .where(Run.state == RunState.QUEUED)
        .subquery()
    )
    query = select(ranked.c.id, ranked.c.position)
    if wanted is not None:
        query = query.where(ranked.c.id.in_(wanted))
    return {run_id: int(position) for run_id, position in session.execute(query)}


def cancel_run(session: Session, *, run_id: int) -> Run:
    """Waiting runs end at once; a running one gets the flag its training process polls."""
    run = get_run(session, run_id=run_id)
    if run.state in FINISHED_RUN_STATES:
        raise ConflictError(f"run {run_id} has already {run.state}", field="state")
    now = utcnow()
    waiting = (RunState.QUEUED, RunState.PREPARING)
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.state.in_(waiting))
        .values(state=RunState.CANCELLED, finished_at=now, cancel_requested=True)
    )
    if result.rowcount == 0:  # it started meanwhile: ask the training process to stop
        session.execute(update(Run).where(Run.id == run_id).values(cancel_requested=True))
    session.flush()
    session.refresh(run)
    return run


def resume_run(session: Session, *, run_id: int, max_iters: int | None) -> tuple[Run, Followup]:
    """Queue a finished run again; its training process continues from runs/<id>/ckpt.pt."""
    run = get_run(session, run_id=run_id)
    if run.state not in FINISHED_RUN_STATES:
        raise ConflictError(
            f"run {run_id} is {run.state}; only a finished run resumes", field="state"
        )
    if run.dataset_id is None or run.preparation_id is None:
        raise ConflictError(f"run {run_id}'s dataset was deleted; nothing to train on")
    has_ckpt = session.scalar(
        select(func.count())
        .select_from(Checkpoint)
        .where(Checkpoint.run_id == run_id, Checkpoint.name == "ckpt.pt")
    )
    if not has_ckpt:
        raise ConflictError(f"run {run_id} has no checkpoint to resume from; clone it instead")
    config = dict(run.config)
    if max_iters is not None:
        cfg = TrainConfig.from_mapping({**user_fields(config), "max_iters": max_iters})
        check_config(cfg, None)  # config checks only: the data is known to fit
        config = stored_config(cfg)
    if run.iter >= config["max_iters"]:
        raise ConflictError(
            f"run {run_id} is at iteration {run.iter} of {config['max_iters']}; "
            "pass a larger max_iters to train on",
            field="max_iters",
        )
    now = utcnow()
    run.config = config
    run.max_iters = config["max_iters"]
    run.state = RunState.QUEUED
    run.queued_at = now
    run.finished_at = None
    run.failure_reason = None
    run.failure_message = None
    run.cancel_requested = False
    run.attempts = 0
    run.worker_id = None
    session.flush()
    return run, Followup(train=[run.id])


def delete_run(session: Session, *, run_id: int) -> None:
    run = get_run(session, run_id=run_id)
    if run.state in ACTIVE_RUN_STATES:
        raise ConflictError(f"run {run_id} is {run.state}; cancel it first", field="state")
    session.delete(run)
    session.flush()
