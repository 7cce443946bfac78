"""Rows as the REST API shows them: the pages render the same dicts the scripts later fetch
from /api/v1, so a value reads the same before and after a live update."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.routes.runs import run_out
from app.api.schemas.datasets import DatasetOut
from app.core.models import Dataset, Run
from app.crud import runs as run_crud

JSON = dict[str, Any]


def dataset_json(dataset: Dataset) -> JSON:
    return DatasetOut.model_validate(dataset).model_dump(mode="json")


def dataset_summary(dataset: Dataset) -> JSON:
    """A dataset without its preview and vocabulary (lists and forms need only the figures)."""
    data = dataset_json(dataset)
    vocab = data.pop("vocab")
    data.pop("preview")
    data["vocab_size"] = len(vocab) if vocab is not None else None
    return data


def runs_json(session: Session, runs: Iterable[Run]) -> list[JSON]:
    positions = run_crud.queue_positions(session)
    return [run_out(run, positions).model_dump(mode="json") for run in runs]


def dataset_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(Dataset.id, Dataset.name).where(Dataset.id.in_(wanted)))
    return {row.id: row.name for row in rows}


def with_dataset_names(session: Session, runs: list[JSON]) -> list[JSON]:
    names = dataset_names(session, (r["dataset_id"] for r in runs))
    for run in runs:
        run["dataset_name"] = names.get(run["dataset_id"]) if run["dataset_id"] else None
    return runs
