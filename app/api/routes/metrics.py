"""A run's history: metrics (history and live SSE), log lines (pages and live SSE),
checkpoints (list and download)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from app.api.deps import SessionDep, SettingsDep
from app.api.params import MAX_ID, AfterId, RunId
from app.api.schemas.common import ERROR_RESPONSES
from app.api.schemas.metrics import (
    CheckpointOut,
    LogLineOut,
    LogPage,
    MetricHistory,
    metrics_csv,
)
from app.api.sse import FetchAfter, follow_run, last_event_id
from app.store import history
from app.store.broker import async_client
from app.store.db import get_db
from app.store.errors import NotFoundError
from app.store.event_wire import Event
from app.store.run_queries import get_run

router = APIRouter(prefix="/runs/{run_id}", tags=["history"], responses=ERROR_RESPONSES)

SSE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"}
}
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
CHECKPOINT_NAMES = ("ckpt.pt", "best.pt")


def _metrics_after(run_id: int, after: int, limit: int) -> list[Event]:
    with get_db().session() as session:
        return history.metric_points_after(session, run_id=run_id, after_id=after, limit=limit)


def _logs_after(run_id: int, after: int, limit: int) -> list[Event]:
    with get_db().session() as session:
        return history.log_lines_after(session, run_id=run_id, after_id=after, limit=limit)


@router.get(
    "/metrics",
    response_model=MetricHistory,
    responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with ?format=csv"}},
)
def get_metrics(
    run_id: RunId,
    session: SessionDep,
    points: Annotated[int | None, Query(ge=2, le=100_000)] = None,
    format: Annotated[
        Literal["json", "csv"], Query(description="csv: a file, one row a point")
    ] = "json",
) -> Any:
    """Every logged step, or about `points` of them (first, last and every evaluation kept;
    the rest thinned to each bucket's min and max train loss). `format=csv` answers the same
    points as a CSV file (MetricPoint's fields as columns)."""
    rows, total = history.metric_history(session, run_id=run_id, points=points)
    if format == "csv":
        return Response(
            metrics_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="run{run_id}-metrics.csv"'},
        )
    return MetricHistory.model_validate(
        {"run_id": run_id, "total": total, "downsampled": len(rows) < total, "points": rows}
    )


async def _stream(
    request: Request, run_id: int, kind: str, after: int | None, fetch: FetchAfter
) -> StreamingResponse:
    with get_db().session() as session:
        get_run(session, run_id=run_id)
    events = follow_run(
        request,
        async_client(request.app),
        run_id=run_id,
        kind=kind,
        after=last_event_id(request, after),
        fetch_after=fetch,
    )
    return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)


@router.get("/metrics/stream", response_class=StreamingResponse, responses=SSE_RESPONSE)
async def stream_metrics(
    request: Request, run_id: RunId, after: AfterId = None
) -> StreamingResponse:
    """SSE: `metric` events (id = point id, data = a point) replayed after `Last-Event-ID`
    (or `?after=`), then live; one `done` event (data: the run's final state) at the end."""
    return await _stream(request, run_id, "metric", after, _metrics_after)


@router.get("/logs")
def get_logs(
    run_id: RunId,
    session: SessionDep,
    after: AfterId = None,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Lines before this id")
    ] = None,
    tail: Annotated[int | None, Query(ge=1, le=5000, description="The last N lines")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> LogPage:
    """Log lines, oldest first: `limit` after line id `after` (0 = from the start); or the
    last `tail` lines; or the `tail` (else `limit`) lines before line id `before`. Follow
    the stream from the last id (`…/logs/stream?after=`)."""
    rows, more_before, more_after = history.log_page(
        session, run_id=run_id, after_id=after, before_id=before, tail=tail, limit=limit
    )
    items = [LogLineOut.model_validate(r) for r in rows]
    return LogPage(
        items=items,
        next_after=items[-1].id if more_after else None,
        next_before=items[0].id if more_before else None,
    )


@router.get("/logs/stream", response_class=StreamingResponse, responses=SSE_RESPONSE)
async def stream_logs(request: Request, run_id: RunId, after: AfterId = None) -> StreamingResponse:
    """SSE: `log` events (id = line id), replayed then live, then `done`."""
    return await _stream(request, run_id, "log", after, _logs_after)


@router.get("/checkpoints")
def list_checkpoints(run_id: RunId, session: SessionDep) -> list[CheckpointOut]:
    return [
        CheckpointOut.model_validate(c) for c in history.list_checkpoints(session, run_id=run_id)
    ]


@router.get(
    "/checkpoints/{name}",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_checkpoint(run_id: RunId, name: str, session: SessionDep, settings: SettingsDep):
    """The nanoGPT-compatible checkpoint file (ckpt.pt or best.pt)."""
    get_run(session, run_id=run_id)
    path = settings.run_dir(run_id) / name
    if name not in CHECKPOINT_NAMES or not path.is_file():
        raise NotFoundError(f"run {run_id} has no checkpoint {name!r}", field="name")
    return FileResponse(path, media_type="application/octet-stream", filename=f"run{run_id}-{name}")
