"""Upload a corpus; a dataset's figures, sources, document lengths, preview, vocabulary,
preparations and runs."""

from __future__ import annotations

from typing import Any

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
        read_options=read_options(dataset.get("options")),
        histogram=length_histogram(dataset.get("doc_lengths")),
        runs=runs_json(session, runs),
        runs_total=runs_total,
    )


# The histogram's drawing area in SVG units (it scales with the panel).
_WIDTH, _HEIGHT, _GAP = 640, 120, 4


def length_histogram(buckets: list[dict[str, int]] | None) -> dict[str, Any] | None:
    """Bars for the document-length histogram: SVG geometry (attributes, not styles: the
    pages' CSP allows no style attribute) and a tick per bucket ("1k" for 1,024…2,047)."""
    if not buckets:
        return None
    tallest = max(b["count"] for b in buckets) or 1
    width = _WIDTH / len(buckets)
    bars = []
    for index, bucket in enumerate(buckets):
        height = round(_HEIGHT * bucket["count"] / tallest, 1)
        if bucket["count"]:
            height = max(height, 1.0)  # a bucket with documents is always seen
        label = f"{bucket['min']:,}–{bucket['max']:,}"
        bars.append(
            {
                "x": round(index * width + _GAP / 2, 1),
                "y": round(_HEIGHT - height, 1),
                "width": round(max(width - _GAP, 1.0), 1),
                "height": height,
                "label": label,
                "tick": _tick(bucket["min"]),
                "count": bucket["count"],
            }
        )
    return {"width": _WIDTH, "height": _HEIGHT, "bars": bars}


def _tick(value: int) -> str:
    for unit, size in (("M", 1 << 20), ("k", 1 << 10)):
        if value >= size:
            return f"{value // size}{unit}"
    return str(value)


def read_options(options: dict[str, Any] | None) -> str:
    """How the sources were read, in words: "field answer · duplicates dropped"."""
    if not options:
        return ""
    parts = []
    if options.get("text_field"):
        parts.append(f"text field {options['text_field']}")
    parts.append("duplicates dropped" if options.get("dedup") else "duplicates kept")
    if options.get("on_bad_record") == "skip":
        parts.append("unreadable records skipped")
    return " · ".join(parts)
