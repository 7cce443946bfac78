"""Rows as the REST API shows them: the pages render the same dicts the scripts later fetch
from /api/v1, so a value reads the same before and after a live update."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.api.deps import Session
from app.api.schemas.datasets import DatasetOut
from app.api.schemas.runs import present_run
from app.planning.waiting import waiting_reasons
from app.store.datasets import dataset_names
from app.store.models import Dataset, Run
from app.store.run_queries import best_val_bpcs, queue_positions
from app.store.settings import Settings

JSON = dict[str, Any]


def dataset_json(dataset: Dataset) -> JSON:
    return DatasetOut.model_validate(dataset).model_dump(mode="json")


# Lists and forms need only a dataset's figures, not what it holds.
_DETAIL = ("preview", "preview_documents", "sources", "doc_lengths")


def dataset_summary(dataset: Dataset) -> JSON:
    """A dataset without its previews, sources and vocabulary (its size stays)."""
    data = dataset_json(dataset)
    vocab = data.pop("vocab")
    for key in _DETAIL:
        data.pop(key)
    data["vocab_size"] = len(vocab) if vocab is not None else None
    return data


def runs_json(
    session: Session, runs: Iterable[Run], settings: Settings | None = None
) -> list[JSON]:
    """With `settings`, a queued run no live worker can take says what it waits for (a look
    at the broker's registry: the run page asks, the lists do not)."""
    runs = list(runs)
    positions = queue_positions(session)
    bpcs = best_val_bpcs(session, runs)
    waiting = waiting_reasons(settings, runs) if settings is not None else {}
    return [present_run(run, positions, bpcs, waiting).model_dump(mode="json") for run in runs]


def with_dataset_names(session: Session, runs: list[JSON]) -> list[JSON]:
    names = dataset_names(session, dataset_ids=(r["dataset_id"] for r in runs))
    for run in runs:
        run["dataset_name"] = names.get(run["dataset_id"]) if run["dataset_id"] else None
    return runs
