"""Rows for tests that exercise the job machinery without the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.core.db import get_db
from app.core.models import Dataset, Preparation, Run, utcnow


def make_run(**values: Any) -> int:
    defaults = {"name": "r", "tokenizer": "char", "val_fraction": 0.1, "config": {},
                "state": "queued", "max_iters": 10, "cancel_requested": False, "iter": 0,
                "attempts": 0, "queued_at": utcnow()}  # fmt: skip
    with get_db().transaction() as session:
        run = Run(**{**defaults, **values})
        session.add(run)
        session.flush()
        return run.id


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
