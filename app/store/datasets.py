"""Datasets (a corpus of documents read from what the user sent, and what it holds) and their
states; every change of a dataset's state is a function here.

    read and described at once ──▶ ready
    larger ──▶ inspecting ──▶ ready | failed   (read and described by the inspect job)

The inspect job holds the lease (`app.store.lease`) of an inspecting dataset."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.store import lease
from app.store.db import get_db
from app.store.errors import ConflictError, NotFoundError
from app.store.followup import Followup
from app.store.lease import Held, Lease
from app.store.models import Dataset, Preparation, Run, utcnow
from app.store.queues import INSPECT
from app.store.states import ACTIVE_RUN_STATES, DatasetState, FailureReason, PrepState

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


# --- the inspect job's side: the lease (app.store.lease) with a dataset's own writes ---


def _failed(reason: FailureReason, message: str, now: datetime) -> dict[str, Any]:
    return {"state": DatasetState.FAILED, "error": message}


# An inspection has one state for queued and running (inspecting): its owner tells them apart.
INSPECTIONS = Lease(
    name="inspections",
    model=Dataset,
    queued=DatasetState.INSPECTING,
    running=DatasetState.INSPECTING,
    wake=INSPECT,
    failed=_failed,
    queued_since=(Dataset.heartbeat_at, Dataset.created_at),
)


def claim(dataset_id: int, owner: str) -> Held:
    """Take the inspection, held by `owner`; not held when someone holds it or it ended."""
    return lease.claim(INSPECTIONS, dataset_id, owner)


def heartbeat(dataset_id: int, owner: str, fraction: float) -> Held:
    """Progress and heartbeat of an inspection; not held when the lease is gone."""
    return lease.heartbeat(INSPECTIONS, dataset_id, owner, values={"progress": fraction})


def pending_read(dataset_id: int) -> tuple[list[dict[str, str]] | None, dict[str, Any]]:
    """The files an inspection still has to read into the corpus (None: the corpus is there)
    and the options to read them with."""
    with get_db().session() as session:
        row = session.execute(
            select(Dataset.inputs, Dataset.options).where(Dataset.id == dataset_id)
        ).one()
        return row.inputs, row.options or {}


def finish(
    dataset_id: int, owner: str, stats: dict[str, Any], report: dict[str, Any] | None
) -> Held:
    """inspecting → ready, with what the corpus holds (`report`: what it was read from; None
    for a file stored whole before corpora, which keeps its one source)."""
    values = {key: stats[key] for key in STATS}
    if report is not None:
        values = _described(stats, report)
    values.update(state=DatasetState.READY, progress=1.0, error=None, inputs=None)
    return lease.finish(INSPECTIONS, dataset_id, owner, values=values)


def fail(dataset_id: int, owner: str, message: str) -> Held:
    """inspecting → failed: not usable text, and `message` says why."""
    return lease.fail(INSPECTIONS, dataset_id, owner, FailureReason.DATA, message)
