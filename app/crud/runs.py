"""Runs: create, list, cancel, resume, clone, delete. Jobs are enqueued by the caller after
commit (see `app.api.routes.runs`), from the `Followup` these functions return."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.core.errors import ConflictError, NotFoundError
from app.core.models import Checkpoint, Dataset, Run, utcnow
from app.core.states import (
    ACTIVE_RUN_STATES,
    FINISHED_RUN_STATES,
    DatasetState,
    PrepState,
    RunState,
)
from app.crud.datasets import get_dataset, prepared_meta, request_preparation
from app.crud.run_config import build_config, check_config, stored_config, user_fields
from worker.engine.config import TrainConfig


@dataclass
class Followup:
    """Jobs to enqueue once the transaction has committed."""

    prepare: list[int] = field(default_factory=list)
    train: list[int] = field(default_factory=list)


def create_run(
    session: Session,
    *,
    dataset_id: int,
    tokenizer: str,
    val_fraction: float,
    preset: str | None,
    config: dict[str, Any],
    name: str | None,
) -> tuple[Run, Followup]:
    dataset = get_dataset(session, dataset_id=dataset_id)
    cfg = build_config(preset=preset, config=config)
    require_ready(dataset)
    return _insert_run(
        session,
        dataset=dataset,
        tokenizer=tokenizer,
        val_fraction=val_fraction,
        preset=preset,
        cfg=cfg,
        name=name or f"{dataset.name} · {preset or 'custom'}",
    )


def _insert_run(
    session: Session,
    *,
    dataset: Dataset,
    tokenizer: str,
    val_fraction: float,
    preset: str | None,
    cfg: TrainConfig,
    name: str,
) -> tuple[Run, Followup]:
    prep, needs_job = request_preparation(
        session, dataset=dataset, tokenizer=tokenizer, val_fraction=val_fraction
    )
    check_config(cfg, prepared_meta(dataset, prep))
    ready = prep.state == PrepState.READY
    now = utcnow()
    run = Run(
        name=name,
        dataset_id=dataset.id,
        preparation_id=prep.id,
        tokenizer=tokenizer,
        val_fraction=val_fraction,
        preset=preset,
        config=stored_config(cfg),
        state=RunState.QUEUED if ready else RunState.PREPARING,
        cancel_requested=False,
        iter=0,
        max_iters=cfg.max_iters,
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


def require_ready(dataset: Dataset) -> None:
    if dataset.state == DatasetState.INSPECTING:
        raise ConflictError(
            f"dataset {dataset.id} is still being inspected; start the run when it is ready",
            field="dataset_id",
        )
    if dataset.state == DatasetState.FAILED:
        raise ConflictError(
            f"dataset {dataset.id} is not usable: {dataset.error}", field="dataset_id"
        )


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


def clone_run(
    session: Session,
    *,
    run_id: int,
    name: str | None,
    dataset_id: int | None,
    tokenizer: str | None,
    val_fraction: float | None,
    overrides: dict[str, Any],
) -> tuple[Run, Followup]:
    """A new run from another's config with some fields changed; it starts from scratch."""
    source = get_run(session, run_id=run_id)
    target = dataset_id if dataset_id is not None else source.dataset_id
    if target is None:
        raise ConflictError(
            f"run {run_id}'s dataset was deleted; pass dataset_id", field="dataset_id"
        )
    dataset = get_dataset(session, dataset_id=target)
    require_ready(dataset)
    build_config(preset=None, config=overrides)  # refuses service-owned fields
    cfg = TrainConfig.from_mapping({**user_fields(source.config), **overrides})
    return _insert_run(
        session,
        dataset=dataset,
        tokenizer=tokenizer or source.tokenizer,
        val_fraction=val_fraction if val_fraction is not None else source.val_fraction,
        preset=source.preset,
        cfg=cfg,
        name=name or f"{source.name} (clone)",
    )


def delete_run(session: Session, *, run_id: int) -> None:
    run = get_run(session, run_id=run_id)
    if run.state in ACTIVE_RUN_STATES:
        raise ConflictError(f"run {run_id} is {run.state}; cancel it first", field="state")
    session.delete(run)
    session.flush()
