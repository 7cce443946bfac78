"""Leases on rows: a job claims its row with a conditional UPDATE, so a duplicate or
redelivered message finds it taken and does nothing; every later write is conditional on
still holding the lease."""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, update

from app.core.db import get_db
from app.core.models import Dataset, Preparation, Run, utcnow
from app.core.states import DatasetState, PrepState, RunState


def worker_id() -> str:
    """Who holds a lease: host and process id of the task's process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_run(run_id: int, owner: str) -> bool:
    now = utcnow()
    with get_db().transaction() as session:
        result = session.execute(
            update(Run)
            .where(Run.id == run_id, Run.state == RunState.QUEUED)
            .values(
                state=RunState.RUNNING,
                worker_id=owner,
                heartbeat_at=now,
                attempts=Run.attempts + 1,
                started_at=now,
                cancel_requested=False,
            )
        )
        return result.rowcount == 1


def update_run(run_id: int, owner: str, **values: Any) -> bool:
    """Write to a running run we hold; False when the lease is gone (reaped or finished)."""
    with get_db().transaction() as session:
        result = session.execute(
            update(Run)
            .where(Run.id == run_id, Run.worker_id == owner, Run.state == RunState.RUNNING)
            .values(**values)
        )
        return result.rowcount == 1


def claim_preparation(prep_id: int, owner: str) -> bool:
    with get_db().transaction() as session:
        result = session.execute(
            update(Preparation)
            .where(Preparation.id == prep_id, Preparation.state == PrepState.QUEUED)
            .values(
                state=PrepState.RUNNING,
                worker_id=owner,
                heartbeat_at=utcnow(),
                attempts=Preparation.attempts + 1,
                progress=0.0,
            )
        )
        return result.rowcount == 1


def update_preparation(prep_id: int, owner: str, **values: Any) -> bool:
    with get_db().transaction() as session:
        result = session.execute(
            update(Preparation)
            .where(
                Preparation.id == prep_id,
                Preparation.worker_id == owner,
                Preparation.state == PrepState.RUNNING,
            )
            .values(**values)
        )
        return result.rowcount == 1


def claim_inspection(dataset_id: int, stale_after_s: float) -> bool:
    """Datasets have no running state: a fresh heartbeat after the first claim is the lease."""
    now = utcnow()
    with get_db().transaction() as session:
        result = session.execute(
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
        return result.rowcount == 1
