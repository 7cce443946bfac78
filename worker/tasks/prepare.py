"""studio.inspect (describe a large upload) and studio.prepare (tokenize a dataset); when a
preparation is ready the runs waiting for it move on to the train queue."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable

from sqlalchemy import select, update

from app.core.broker import client, publish, run_channel
from app.core.db import get_db
from app.core.ingest import INPUT_NAME, apply_description
from app.core.jobs import enqueue_train
from app.core.models import Dataset, Preparation, Run, utcnow
from app.core.settings import get_settings
from app.core.states import DatasetState, FailureReason, PrepState, RunState
from worker.celery_app import celery_app
from worker.claims import claim_inspection, claim_preparation, update_preparation, worker_id
from worker.engine.errors import EngineError

log = logging.getLogger(__name__)
PROGRESS_EVERY_S = 1.0


def _throttled(write: Callable[[float], None]) -> Callable[[int, int], None]:
    """A progress callback that writes (and so heartbeats) at most once a second."""
    last = 0.0

    def progress(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= PROGRESS_EVERY_S:
            last = now
            write(done / total if total else 1.0)

    return progress


@celery_app.task(name="studio.inspect", acks_late=True)
def inspect_dataset(dataset_id: int) -> str:
    from worker.engine.textstats import inspect_text

    settings = get_settings()
    if not claim_inspection(dataset_id, settings.stale_after_s):
        return "skipped"

    def write(fraction: float) -> None:
        with get_db().transaction() as session:
            session.execute(
                update(Dataset)
                .where(Dataset.id == dataset_id)
                .values(progress=fraction, heartbeat_at=utcnow())
            )

    try:
        stats = inspect_text(
            settings.dataset_dir(dataset_id) / INPUT_NAME, progress=_throttled(write)
        )
    except EngineError as exc:
        with get_db().transaction() as session:
            session.execute(
                update(Dataset)
                .where(Dataset.id == dataset_id)
                .values(state=DatasetState.FAILED, error=exc.message)
            )
        return "failed"
    apply_description(dataset_id, stats.to_dict())
    return "done"


@celery_app.task(name="studio.prepare", acks_late=True)
def prepare_dataset(prep_id: int) -> str:
    from worker.engine.prepare import prepare

    owner = worker_id()
    if not claim_preparation(prep_id, owner):
        return "skipped"
    settings = get_settings()
    with get_db().session() as session:
        prep = session.get(Preparation, prep_id)
        assert prep is not None
        source = settings.dataset_dir(prep.dataset_id) / INPUT_NAME
        out_dir = settings.prepared_dir(prep.dataset_id, prep.tokenizer, prep.val_fraction)
        tokenizer, val_fraction = prep.tokenizer, prep.val_fraction
    shutil.rmtree(out_dir, ignore_errors=True)  # left by an attempt that was cut short

    def write(fraction: float) -> None:
        update_preparation(prep_id, owner, progress=fraction, heartbeat_at=utcnow())

    try:
        result = prepare(
            source,
            out_dir,
            tokenizer=tokenizer,
            val_fraction=val_fraction,
            progress=_throttled(write),
        )
    except EngineError as exc:
        reason = FailureReason.DATA if exc.reason == "data" else FailureReason.CONFIG
        fail_preparation(prep_id, owner, reason, exc.message)
        return "failed"
    except Exception as exc:
        log.exception("preparation %s failed", prep_id)
        fail_preparation(prep_id, owner, FailureReason.INTERNAL, f"{type(exc).__name__}: {exc}")
        return "failed"
    ready = update_preparation(
        prep_id,
        owner,
        state=PrepState.READY,
        progress=1.0,
        train_tokens=result.train_tokens,
        val_tokens=result.val_tokens,
        vocab_size=result.vocab_size,
        finished_at=utcnow(),
        heartbeat_at=utcnow(),
    )
    if ready:
        for run_id in _promote_waiting_runs(prep_id):
            enqueue_train(run_id)
    return "done"


def _waiting_runs(session: object, prep_id: int) -> list[int]:
    query = select(Run.id).where(Run.preparation_id == prep_id, Run.state == RunState.PREPARING)
    return list(session.scalars(query))  # type: ignore[attr-defined]


def _promote_waiting_runs(prep_id: int) -> list[int]:
    """preparing → queued for the runs that waited on this preparation (committed first)."""
    promoted = []
    with get_db().transaction() as session:
        for run_id in _waiting_runs(session, prep_id):
            result = session.execute(
                update(Run)
                .where(Run.id == run_id, Run.state == RunState.PREPARING)
                .values(state=RunState.QUEUED, queued_at=utcnow())
            )
            if result.rowcount:
                promoted.append(run_id)
    return promoted


def fail_preparation(prep_id: int, owner: str | None, reason: str, message: str) -> None:
    """The preparation failed, and so did every run waiting for it."""
    values = {"state": PrepState.FAILED, "error": message, "finished_at": utcnow()}
    with get_db().transaction() as session:
        query = update(Preparation).where(Preparation.id == prep_id)
        if owner is not None:
            query = query.where(Preparation.worker_id == owner)
        session.execute(query.values(**values))
        failed = []
        for run_id in _waiting_runs(session, prep_id):
            session.execute(
                update(Run)
                .where(Run.id == run_id, Run.state == RunState.PREPARING)
                .values(
                    state=RunState.FAILED,
                    failure_reason=reason,
                    failure_message=f"preparing the data failed: {message}",
                    finished_at=utcnow(),
                )
            )
            failed.append(run_id)
    conn = client(get_settings())
    try:
        for run_id in failed:
            publish(conn, run_channel(run_id), {"type": "state", "state": "failed"})
    finally:
        conn.close()
