"""Rows for tests that exercise the job machinery without the API."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from app.store.db import get_db
from app.store.followup import Followup
from app.store.models import Dataset, Metric, Preparation, Run, utcnow
from app.store.queues import Task


def job_ids(followup: Followup, task: Task) -> list[int]:
    """The ids the followup's jobs for `task` name (the first argument of each)."""
    return [job.args[0] for job in followup.jobs if job.task == task]


def make_run(**values: Any) -> int:
    defaults = {"name": "r", "tokenizer": "char", "val_fraction": 0.1, "config": {},
                "state": "queued", "max_iters": 10, "cancel_requested": False, "iter": 0,
                "attempts": 0, "queued_at": utcnow()}  # fmt: skip
    with get_db().transaction() as session:
        run = Run(**{**defaults, **values})
        session.add(run)
        session.flush()
        return run.id


def make_evaluations(run_id: int, *evaluations: tuple[int, float, float | None]) -> None:
    """Metric rows of a run's evaluations: (iter, val_loss, val_bpc) each."""
    with get_db().transaction() as session:
        for iter_num, val_loss, val_bpc in evaluations:
            session.add(Metric(run_id=run_id, iter=iter_num, val_loss=val_loss, val_bpc=val_bpc))


def make_preparation(**values: Any) -> int:
    with get_db().transaction() as session:
        dataset = Dataset(name="d", state="ready", bytes=1, attempts=0)
        session.add(dataset)
        session.flush()
        fields = {"dataset_id": dataset.id, "tokenizer": "char", "val_fraction": 0.1,
                  "state": "queued", "progress": 0.0, "attempts": 0}  # fmt: skip
        prep = Preparation(**{**fields, **values})
        session.add(prep)
        session.flush()
        return prep.id


def ago(seconds: float):
    return utcnow() - timedelta(seconds=seconds)


def get_run(run_id: int) -> Run:
    with get_db().session() as session:
        return session.get(Run, run_id)


@contextmanager
def listening(run_id: int) -> Iterator[Callable[[], dict[str, Any]]]:
    """Subscribe to a run's channel; the callable returns the next message (within 10 s)."""
    import redis

    from app.store.broker import run_channel
    from app.store.settings import get_settings

    conn = redis.Redis.from_url(get_settings().redis_url)
    pubsub = conn.pubsub()
    pubsub.subscribe(run_channel(run_id))
    assert pubsub.get_message(timeout=10)["type"] == "subscribe"

    def next_message() -> dict[str, Any]:
        message = pubsub.get_message(timeout=10)
        assert message is not None, f"nothing was published for run {run_id}"
        return json.loads(message["data"])

    try:
        yield next_message
    finally:
        pubsub.close()
        conn.close()
