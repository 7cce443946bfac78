"""Compare runs: their curves on one chart, and the settings that differ."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from app.api.deps import PageAccess, SessionDep
from app.store.evaluations import ready_on_datasets
from app.store.models import Evaluation
from app.store.run_queries import find_runs, list_runs
from app.store.sweeps import trials_of_runs
from app.web.formatting import loss_unit
from app.web.templating import render
from app.web.views import runs_json, with_dataset_names

router = APIRouter(dependencies=[PageAccess])

MAX_RUNS = 8
# Where runs can differ besides their config.
RUN_FIELDS = ("dataset_name", "tokenizer", "val_fraction", "preset")
SKIP = {"data_dir", "out_dir", "init_from", "tags"}


def differences(runs: list[dict[str, Any]]) -> list[tuple[str, list[Any]]]:
    """(setting, one value per run) for every setting whose values are not all equal."""
    rows: list[tuple[str, list[Any]]] = []
    for name in RUN_FIELDS:
        values = [r.get(name) for r in runs]
        if len({repr(v) for v in values}) > 1:
            rows.append((name, values))
    keys = sorted({k for r in runs for k in r["config"]} - SKIP)
    for key in keys:
        values = [r["config"].get(key) for r in runs]
        if len({repr(v) for v in values}) > 1:
            rows.append((key, values))
    return rows


def evaluation_ranking(
    by_dataset: dict[int, dict[int, Evaluation]], runs: list[dict[str, Any]], wanted: int | None
) -> dict[str, Any] | None:
    """The selected runs ranked by bits per character on one evaluation dataset (`wanted`,
    else the one most of them were evaluated on): the same measure whatever the tokenizer.
    Runs not evaluated on it come last, without a rank. None: no evaluation on a dataset."""
    if not by_dataset:
        return None
    datasets = sorted(by_dataset, key=lambda d: (-len(by_dataset[d]), d))
    dataset_id = wanted if wanted in by_dataset else datasets[0]
    evaluated = by_dataset[dataset_id]
    ranked = sorted(
        (r for r in runs if r["id"] in evaluated),
        key=lambda r: evaluated[r["id"]].bits_per_char or 0.0,
    )
    rows = [
        {"rank": i + 1, "run": r, "evaluation": evaluated[r["id"]]} for i, r in enumerate(ranked)
    ]
    rows += [{"rank": None, "run": r, "evaluation": None} for r in runs if r["id"] not in evaluated]
    names = {d: next(iter(by_dataset[d].values())).dataset_name for d in datasets}
    return {"dataset_id": dataset_id, "datasets": [(d, names[d]) for d in datasets], "rows": rows}


@router.get("/compare")
def compare_page(
    request: Request,
    session: SessionDep,
    run: Annotated[list[int] | None, Query()] = None,
    eval_dataset: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    wanted = list(dict.fromkeys(run or []))[:MAX_RUNS]
    picked = find_runs(session, run_ids=wanted)
    selected = with_dataset_names(session, runs_json(session, picked))
    recent, _ = list_runs(session, limit=100)
    choices = with_dataset_names(session, runs_json(session, recent))
    chosen_ids = {r["id"] for r in selected}
    trials = trials_of_runs(session, run_ids=list(chosen_ids))
    choices += [r for r in selected if r["id"] not in {c["id"] for c in choices}]
    return render(
        request,
        "compare.html",
        active="compare",
        selected=selected,
        choices=choices,
        chosen_ids=chosen_ids,
        differences=differences(selected) if len(selected) > 1 else [],
        trials=trials,
        unit=loss_unit(selected),
        choices_unit=loss_unit(choices),
        max_runs=MAX_RUNS,
        missing=[i for i in wanted if i not in chosen_ids],
        ranking=evaluation_ranking(
            ready_on_datasets(session, run_ids=list(chosen_ids)), selected, eval_dataset
        ),
    )
