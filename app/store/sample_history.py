"""A run's samples, kept: each finished sample is stored with what makes it again (prompt,
options, seed, checkpoint and its iteration). A sample stopped by its reader is not kept.
The rows go with their run (ON DELETE CASCADE)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.store.db import get_db
from app.store.models import Run, Sample, utcnow
from app.store.run_queries import get_run


@dataclass(frozen=True)
class SampleRecord:
    """What a finished sample was made from and what it said."""

    run_id: int
    checkpoint: str
    iter: int | None
    prompt: str
    completion: str
    max_new_tokens: int
    temperature: float
    top_k: int | None
    top_p: float | None
    seed: int
    stop_at_eot: bool


def save_sample(record: SampleRecord) -> Sample | None:
    """Store a finished sample; None when its run was deleted meanwhile."""
    try:
        with get_db().transaction() as session:
            if session.get(Run, record.run_id) is None:
                return None
            row = Sample(**record.__dict__, created_at=utcnow())
            session.add(row)
            session.flush()
            return row
    except IntegrityError:  # the run went between the check and the insert
        return None


def list_samples(
    session: Session, *, run_id: int, before_id: int | None, limit: int
) -> tuple[list[Sample], bool]:
    """The run's newest `limit` samples (before `before_id`), newest first, and whether
    older ones remain."""
    get_run(session, run_id=run_id)
    query = select(Sample).where(Sample.run_id == run_id)
    if before_id is not None:
        query = query.where(Sample.id < before_id)
    rows = list(session.scalars(query.order_by(Sample.id.desc()).limit(limit + 1)))
    return rows[:limit], len(rows) > limit
