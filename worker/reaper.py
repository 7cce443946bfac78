"""Finds work whose heartbeat went stale (worker killed, machine rebooted) and puts it back on
its queue to resume from the newest checkpoint, up to max_attempts; then fails it as
worker_lost. Every change is a conditional UPDATE, so several reapers may run at once."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select, update

from app.core.broker import client, publish, run_channel
from app.core.db import get_db
from app.core.jobs import enqueue_inspect, enqueue_prepare, enqueue_train
from app.core.models import Dataset, Preparation, Run, utcnow
from app.core.settings import Settings
from app.core.states import DatasetState, FailureReason, PrepState, RunState

log = logging.getLogger(__name__)


@dataclass
class Reaped:
    requeued_runs: list[int] = field(default_factory=list)
    failed_runs: list[int] = field(default_factory=list)
    requeued_preparations: list[int] = field(default_factory=list)
    failed_preparations: list[int] = field(default_factory=list)
    reinspected_datasets: list[int] = field(default_factory=list)


def reap(settings: Settings) -> Reaped:
    now = utcnow()
    cutoff = now - timedelta(seconds=settings.stale_after_s)
    out = Reaped()
    with get_db().transaction() as session:
        stale = session.execute(
            select(Run.id, Run.attempts).where(
                Run.state == RunState.RUNNING, Run.heartbeat_at < cutoff
            )
        ).all()
        for run_id, attempts in stale:
            guard = update(Run).where(
                Run.id == run_id, Run.state == RunState.RUNNING, Run.heartbeat_at < cutoff
            )
            if attempts >= settings.max_attempts:
                message = f"the worker stopped answering {attempts} times; giving up"
                values = {
                    "state": RunState.FAILED,
                    "failure_reason": FailureReason.WORKER_LOST,
                    "failure_message": message,
                    "finished_at": now,
                }
                target = out.failed_runs
            else:
                values = {"state": RunState.QUEUED, "queued_at": now, "worker_id": None}
                target = out.requeued_runs
            if session.execute(guard.values(**values)).rowcount:
                target.append(run_id)
        _reap_preparations(session, cutoff, settings, out)
        inspecting = select(Dataset.id, Dataset.attempts).where(
            Dataset.state == DatasetState.INSPECTING, Dataset.heartbeat_at < cutoff
        )
        for dataset_id, attempts in session.execute(inspecting).all():
            if attempts >= settings.max_attempts:
                session.execute(
                    update(Dataset)
                    .where(Dataset.id == dataset_id)
                    .values(state=DatasetState.FAILED, error="the worker stopped answering")
                )
            else:
                out.reinspected_datasets.append(dataset_id)
    _after_commit(settings, out)
    return out


def _reap_preparations(session: object, cutoff: object, settings: Settings, out: Reaped) -> None:
    stale = session.execute(  # type: ignore[attr-defined]
        select(Preparation.id, Preparation.attempts).where(
            Preparation.state == PrepState.RUNNING, Preparation.heartbeat_at < cutoff
        )
    ).all()
    for prep_id, attempts in stale:
        guard = update(Preparation).where(
            Preparation.id == prep_id,
            Preparation.state == PrepState.RUNNING,
            Preparation.heartbeat_at < cutoff,
        )
        if attempts >= settings.max_attempts:
            out.failed_preparations.append(prep_id)
        elif session.execute(  # type: ignore[attr-defined]
            guard.values(state=PrepState.QUEUED, worker_id=None)
        ).rowcount:
            out.requeued_preparations.append(prep_id)


def _after_commit(settings: Settings, out: Reaped) -> None:
    from worker.tasks.prepare import fail_preparation

    for prep_id in out.failed_preparations:
        fail_preparation(prep_id, None, FailureReason.WORKER_LOST, "the worker stopped answering")
    for run_id in out.requeued_runs:
        enqueue_train(run_id)
    for prep_id in out.requeued_preparations:
        enqueue_prepare(prep_id)
    for dataset_id in out.reinspected_datasets:
        enqueue_inspect(dataset_id)
    if out.failed_runs:
        conn = client(settings)
        try:
            for run_id in out.failed_runs:
                publish(conn, run_channel(run_id), {"type": "state", "state": "failed"})
        finally:
            conn.close()
    if any(vars(out).values()):
        log.warning("reaper: %s", out)
