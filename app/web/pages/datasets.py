"""Upload a text file; a dataset's figures, preview, vocabulary, preparations and runs."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.api.deps import PageAccess, SessionDep, SettingsDep
from app.store.datasets import get_dataset
from app.store.run_queries import list_runs
from app.web.templating import render
from app.web.views import dataset_json, runs_json

router = APIRouter(dependencies=[PageAccess])


@router.get("/upload")
def upload_page(request: Request, settings: SettingsDep) -> Response:
    return render(request, "upload.html", active="upload", max_bytes=settings.max_upload_bytes)


@router.get("/datasets/{dataset_id:int}")
def dataset_page(request: Request, dataset_id: int, session: SessionDep) -> Response:
    dataset = dataset_json(get_dataset(session, dataset_id=dataset_id))
    runs, runs_total = list_runs(session, dataset_id=dataset_id, limit=100)
    return render(
        request,
        "dataset.html",
        active="",  # a dataset is no nav section: the breadcrumb says where it is
        dataset=dataset,
        runs=runs_json(session, runs),
        runs_total=runs_total,
    )
