"""Datasets and their preparations (tokenized copies)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.errors import ConflictError, NotFoundError
from app.core.models import Dataset, Preparation, Run, utcnow
from app.core.states import ACTIVE_RUN_STATES, PrepState


def find_dataset_by_sha(session: Session, *, sha256: str, name: str) -> Dataset | None:
    query = select(Dataset).where(Dataset.sha256 == sha256, Dataset.name == name)
    return session.scalars(query.order_by(Dataset.id).limit(1)).first()


def list_datasets(session: Session, *, limit: int, offset: int) -> tuple[list[Dataset], int]:
    total = session.scalar(select(func.count()).select_from(Dataset)) or 0
    query = select(Dataset).order_by(Dataset.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(query)), total


def get_dataset(session: Session, *, dataset_id: int) -> Dataset:
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFoundError(f"no dataset {dataset_id}", field="dataset_id")
    return dataset


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
    if any(p.state == PrepState.RUNNING for p in dataset.preparations):
        raise ConflictError(f"dataset {dataset_id} is being prepared; try again when it is done")
    session.delete(dataset)
    session.flush()


def find_preparation(
    session: Session, *, dataset_id: int, tokenizer: str, val_fraction: float
) -> Preparation | None:
    query = select(Preparation).where(
        Preparation.dataset_id == dataset_id,
        Preparation.tokenizer == tokenizer,
        Preparation.val_fraction == val_fraction,
    )
    return session.scalars(query).first()


def request_preparation(
    session: Session, *, dataset: Dataset, tokenizer: str, val_fraction: float
) -> tuple[Preparation, bool]:
    """The preparation for (tokenizer, split), created or retried; True when it needs a job."""
    prep = find_preparation(
        session, dataset_id=dataset.id, tokenizer=tokenizer, val_fraction=val_fraction
    )
    if prep is None:
        prep = Preparation(
            dataset_id=dataset.id,
            tokenizer=tokenizer,
            val_fraction=val_fraction,
            state=PrepState.QUEUED,
            progress=0.0,
            attempts=0,
        )
        session.add(prep)
        session.flush()
        return prep, True
    if prep.state == PrepState.FAILED:
        prep.state = PrepState.QUEUED
        prep.error = None
        prep.progress = 0.0
        prep.attempts = 0
        prep.finished_at = None
        prep.heartbeat_at = utcnow()
        session.flush()
        return prep, True
    return prep, False


def prepared_meta(dataset: Dataset, prep: Preparation) -> dict[str, Any]:
    """What preflight needs about the data: exact when prepared, else estimated from stats."""
    if prep.state == PrepState.READY and prep.train_tokens is not None:
        return {
            "train_tokens": prep.train_tokens,
            "val_tokens": prep.val_tokens,
            "vocab_size": prep.vocab_size,
            "tokenizer": {"kind": prep.tokenizer},
        }
    if prep.tokenizer == "char":
        total = dataset.characters
    else:
        total = dataset.gpt2_tokens if dataset.gpt2_tokens is not None else dataset.bytes // 4
    val = int(total * prep.val_fraction)
    return {"train_tokens": total - val, "val_tokens": val, "tokenizer": {"kind": prep.tokenizer}}
