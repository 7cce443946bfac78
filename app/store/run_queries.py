"""Reading runs: one, several, a filtered page, the train queue's order, where a run stands.
Every change of a run is in `app.store.runs`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, false, func, select
from sqlalchemy.orm import Session

from app.store.db import get_db
from app.store.errors import NotFoundError
from app.store.event_wire import Event, run_state
from app.store.models import Metric, Run
from app.store.states import RunState


def get_run(session: Session, *, run_id: int) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise NotFoundError(f"no run {run_id}", field="run_id")
    return run


def find_runs(session: Session, *, run_ids: Iterable[int]) -> list[Run]:
    """The runs that exist among `run_ids`, in the order asked."""
    wanted = list(dict.fromkeys(run_ids))
    if not wanted:
        return []
    rows = {r.id: r for r in session.scalars(select(Run).where(Run.id.in_(wanted)))}
    return [rows[i] for i in wanted if i in rows]


def run_names(session: Session) -> list[tuple[int, str, datetime]]:
    """Every run's id, name and creation time, newest first (GET /v1/models)."""
    rows = session.execute(select(Run.id, Run.name, Run.created_at).order_by(Run.id.desc()))
    return [(run_id, name, created_at) for run_id, name, created_at in rows]


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


def best_val_bpcs(session: Session, runs: Iterable[Run]) -> dict[int, float]:
    """Each run's best val loss in bits per character (the figure runs of different
    tokenizers compare by), one query; a run with no such figure has none. A run's val split
    keeps its tokens per character, so its lowest bits per character is at its lowest val
    loss: the best checkpoint's."""
    ids = [r.id for r in runs]
    if not ids:
        return {}
    query = (
        select(Metric.run_id, func.min(Metric.val_bpc))
        .where(Metric.run_id.in_(ids), Metric.val_bpc.is_not(None))
        .group_by(Metric.run_id)
    )
    return {run_id: float(bpc) for run_id, bpc in session.execute(query)}


def queue_positions(session: Session, runs: list[Run] | None = None) -> dict[int, int]:
    """Position on its train queue (1 = next, first queued first) of the given runs that
    are queued, or of every queued run: one query, ranking the runs that can still start on
    each queue by the queue index. A run asked to cancel has none."""
    wanted = None if runs is None else [r.id for r in runs if r.state == RunState.QUEUED]
    if wanted == []:
        return {}
    order = (Run.queued_at, Run.id)
    ranked = (
        select(
            Run.id.label("id"),
            func.row_number().over(partition_by=Run.queue, order_by=order).label("position"),
        )
        .where(_can_start())
        .subquery()
    )
    query = select(ranked.c.id, ranked.c.position)
    if wanted is not None:
        query = query.where(ranked.c.id.in_(wanted))
    return {run_id: int(position) for run_id, position in session.execute(query)}


def _can_start() -> Any:
    """Queued, held by nobody, and not asked to cancel: a run that can still start."""
    return and_(
        Run.state == RunState.QUEUED, Run.worker_id.is_(None), Run.cancel_requested == false()
    )


def queue_of(run_id: int) -> str | None:
    """The train queue of a run (None: no such run)."""
    with get_db().session() as session:
        return session.scalar(select(Run.queue).where(Run.id == run_id))


def queued_in_order(queue: str, *, limit: int) -> list[tuple[int, dict[str, Any] | None]]:
    """(id, devices asked for) of the runs that can still start on `queue`, first queued
    first: what a train worker places and claims, in that order."""
    with get_db().session() as session:
        query = (
            select(Run.id, Run.devices)
            .where(_can_start(), Run.queue == queue)
            .order_by(Run.queued_at, Run.id)
            .limit(limit)
        )
        return [(row_id, devices) for row_id, devices in session.execute(query)]


def running_placements(session: Session) -> list[tuple[int, str, dict[str, Any]]]:
    """(id, name, placement) of every running run: what occupies each worker's devices."""
    query = select(Run.id, Run.name, Run.placement).where(
        Run.state == RunState.RUNNING, Run.placement.is_not(None)
    )
    return [(row_id, name, placement) for row_id, name, placement in session.execute(query)]


def state_of(run_id: int) -> Event | None:
    """The run's state event as the database has it now; None once the run is deleted."""
    with get_db().session() as session:
        run = session.get(Run, run_id)
        return None if run is None else run_state(run)


def cancel_requested(run_id: int) -> bool:
    """The flag a training process polls (set by `app.store.runs.cancel_run`)."""
    with get_db().session() as session:
        return bool(session.scalar(select(Run.cancel_requested).where(Run.id == run_id)))


def load_claimed_run(run_id: int, owner: str) -> Run | None:
    """The run, if `owner` holds it (running, claimed by that worker); else None."""
    with get_db().session() as session:
        run = session.get(Run, run_id)
        if run is None or run.state != RunState.RUNNING or run.worker_id != owner:
            return None
        return run
