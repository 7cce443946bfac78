"""Datasets (a corpus of documents read from what the user sent, and what it holds) and their
states; every change of a dataset's state is a function here.

    read and described at once ──▶ ready
    larger ──▶ inspecting ──▶ ready | failed   (read and described by the inspect job)

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

# What the engine's inspect_text says of the corpus file, stored as it says it.
STATS = (
    "characters",
    "lines",
    "sha256",
    "vocab",
    "gpt2_tokens",
    "documents",
    "doc_lengths",
    "preview_documents",
)


def _described(stats: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    """The columns of a read corpus: the file's figures and the builder's report."""
    return {
        **{key: stats.get(key) for key in STATS},
        "duplicates": report["duplicates"],
        "sources": report["sources"],
        "bytes": sum(source["bytes"] for source in report["sources"]),
    }


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
    session: Session,
    *,
    name: str,
    size: int,
    options: dict[str, Any],
    stats: dict[str, Any] | None,
    report: dict[str, Any] | None,
    inputs: list[dict[str, str]] | None,
) -> tuple[Dataset, Followup]:
    """A read corpus: ready with its `stats` and `report`; or (None) inspecting, with the
    `inputs` the inspect job reads, woken by the followup."""
    inspecting = stats is None or report is None
    described = {} if inspecting else _described(stats, report)  # type: ignore[arg-type]
    dataset = Dataset(
        name=name,
        state=DatasetState.INSPECTING if inspecting else DatasetState.READY,
        progress=0.0 if inspecting else 1.0,
        attempts=0,
        heartbeat_at=utcnow(),
        options=options,
        inputs=inputs,
        **{"bytes": size, **described},
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


def pending_read(dataset_id: int) -> tuple[list[dict[str, str]] | None, dict[str, Any]]:
    """The files an inspection still has to read into the corpus (None: the corpus is there)
    and the options to read them with."""
    with get_db().session() as session:
        row = session.execute(
            select(Dataset.inputs, Dataset.options).where(Dataset.id == dataset_id)
        ).one()
        return row.inputs, row.options or {}


def finish_inspection(
    dataset_id: int, stats: dict[str, Any], report: dict[str, Any] | None
) -> None:
    """inspecting → ready, with what the corpus holds (`report`: what it was read from; None
    for a file stored whole before corpora, which keeps its one source)."""
    values = {key: stats[key] for key in STATS}
    if report is not None:
        values = _described(stats, report)
    with get_db().transaction() as session:
        session.execute(
            update(Dataset)
            .where(Dataset.id == dataset_id, Dataset.state == DatasetState.INSPECTING)
            .values(state=DatasetState.READY, progress=1.0, error=None, inputs=None, **values)
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
