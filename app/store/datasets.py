"""Datasets (an uploaded text file and what it holds) and their states; every change of a
dataset's state is a function here.

    stored small ──▶ ready
    stored large ──▶ inspecting ──▶ ready | failed   (described by the inspect job)

A dataset has no running state: the inspect job's lease is a fresh heartbeat."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from app.store.db import get_db
from app.store.errors import ConflictError, NotFoundError
from app.store.followup import Followup
from app.store.models import Dataset, Preparation, Run, utcnow
from app.store.queues import INSPECT
from app.store.states import ACTIVE_RUN_STATES, DatasetState, PrepState

STATS = ("characters", "lines", "sha256", "preview", "vocab", "gpt2_tokens")


def list_datasets(session: Session, *, limit: int, offset: int) -> tuple[list[Dataset], int]:
    total = session.scalar(select(func.count()).select_from(Dataset)) or 0
    query = select(Dataset).order_by(Dataset.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(query)), total


def get_dataset(session: Session, *, dataset_id: int) -> Dataset:
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFoundError(f"no dataset {dataset_id}", field="dataset_id")
    return dataset


def find_ready_dataset(session: Session, *, name: str) -> Dataset | None:
    query = select(Dataset).where(Dataset.name == name, Dataset.state == DatasetState.READY)
    return session.scalars(query.order_by(Dataset.id).limit(1)).first()


def dataset_names(session: Session, *, dataset_ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in dataset_ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(Dataset.id, Dataset.name).where(Dataset.id.in_(wanted)))
    return {row.id: row.name for row in rows}


def insert_dataset(
    session: Session, *, name: str, size: int, stats: dict[str, Any] | None
) -> tuple[Dataset, Followup]:
    """A stored upload: ready with its `stats`, or (None) inspecting, the inspect job woken."""
    inspecting = stats is None
    dataset = Dataset(
        name=name,
        state=DatasetState.INSPECTING if inspecting else DatasetState.READY,
        progress=0.0 if inspecting else 1.0,
        attempts=0,
        heartbeat_at=utcnow(),
        bytes=size,
        **{key: (stats or {}).get(key) for key in STATS},
    )
    session.add(dataset)
    session.flush()
    followup = Followup()
    if inspecting:
        followup.enqueue(INSPECT, dataset.id)
    return dataset, followup


def delete_dataset(session: Session, *, dataset_id: int) -> None:
    """Refused while a run uses it or it is being prepared; finished runs keep their files."""
    dataset = get_dataset(session, dataset_id=dataset_id)
    active = session.scalar(
        select(func.count())
        .select_from(Run)
        .where(Run.dataset_id == dataset_id, Run.state.in_(ACTIVE_RUN_STATES))
    )
    if active:
        raise ConflictError(
            f"dataset {dataset_id} is used by {active} active run(s); cancel them first"
        )
    preparing = session.scalar(
        select(Preparation.id).where(
            Preparation.dataset_id == dataset_id, Preparation.state == PrepState.RUNNING
        )
    )
    if preparing is not None:
        raise ConflictError(f"dataset {dataset_id} is being prepared; try again when it is done")
    session.delete(dataset)
    session.flush()


# --- the inspect job's transitions: each is its own transaction ---


def claim_inspection(dataset_id: int, stale_after_s: float) -> bool:
    """Take the inspection: the first claim, or one whose heartbeat went stale."""
    now = utcnow()
    with get_db().transaction() as session:
        claimed = session.execute(
            update(Dataset)
            .where(
                Dataset.id == dataset_id,
                Dataset.state == DatasetState.INSPECTING,
                or_(
                    Dataset.attempts == 0,
                    Dataset.heartbeat_at < now - timedelta(seconds=stale_after_s),
                ),
            )
            .values(heartbeat_at=now, attempts=Dataset.attempts + 1)
        )
        return claimed.rowcount == 1


def report_inspection(dataset_id: int, fraction: float) -> None:
    """Progress and heartbeat of an inspection."""
    with get_db().transaction() as session:
        session.execute(
            update(Dataset)
            .where(Dataset.id == dataset_id, Dataset.state == DatasetState.INSPECTING)
            .values(progress=fraction, heartbeat_at=utcnow())
        )


def finish_inspection(dataset_id: int, stats: dict[str, Any]) -> None:
    """inspecting → ready, with what the file holds."""
    with get_db().transaction() as session:
        session.execute(
            update(Dataset)
            .where(Dataset.id == dataset_id, Dataset.state == DatasetState.INSPECTING)
            .values(
                state=DatasetState.READY,
                progress=1.0,
                error=None,
                **{key: stats[key] for key in STATS},
            )
        )


def fail_inspection(dataset_id: int, message: str) -> None:
    """inspecting → failed: not usable text, and `message` says why."""
    with get_db().transaction() as session:
        session.execute(
            update(Dataset)
            .where(Dataset.id == dataset_id, Dataset.state == DatasetState.INSPECTING)
            .values(state=DatasetState.FAILED, error=message)
        )


@dataclass
class ReapedInspections:
    retried: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    followup: Followup = field(default_factory=Followup)


def reap_stale_inspections(*, stale_after_s: float, max_attempts: int) -> ReapedInspections:
    """Inspections whose heartbeat went stale are sent to the inspect job again (its claim
    takes a stale one), until `max_attempts`; then the dataset fails."""
    cutoff = utcnow() - timedelta(seconds=stale_after_s)
    out = ReapedInspections()
    with get_db().transaction() as session:
        stale = session.execute(
            select(Dataset.id, Dataset.attempts).where(
                Dataset.state == DatasetState.INSPECTING, Dataset.heartbeat_at < cutoff
            )
        ).all()
        for dataset_id, attempts in stale:
            if attempts < max_attempts:
                out.retried.append(dataset_id)
                out.followup.enqueue(INSPECT, dataset_id)
                continue
            failed = session.execute(
                update(Dataset)
                .where(
                    Dataset.id == dataset_id,
                    Dataset.state == DatasetState.INSPECTING,
                    Dataset.heartbeat_at < cutoff,
                )
                .values(state=DatasetState.FAILED, error="the worker stopped answering")
            )
            if failed.rowcount:
                out.failed.append(dataset_id)
    return out
