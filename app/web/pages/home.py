"""Home: datasets and runs at a glance, the sample-data button, the queue."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from app.api.deps import PageAccess, SessionDep
from app.store.datasets import list_datasets
from app.store.run_queries import list_runs
from app.web.templating import render
from app.web.views import dataset_summary, runs_json, with_dataset_names

router = APIRouter(dependencies=[PageAccess])

PAGE = 50


@router.get("/")
def home(
    request: Request,
    session: SessionDep,
    runs_offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    datasets, datasets_total = list_datasets(session, limit=PAGE, offset=0)
    runs, runs_total = list_runs(session, limit=PAGE, offset=runs_offset)
    return render(
        request,
        "home.html",
        active="home",
        datasets=[dataset_summary(d) for d in datasets],
        datasets_total=datasets_total,
        runs=with_dataset_names(session, runs_json(session, runs)),
        runs_total=runs_total,
        runs_offset=runs_offset,
        page=PAGE,
    )
