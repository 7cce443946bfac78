"""Health (unauthenticated, cheap) and what the workers report about themselves."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from app.api.deps import SessionDep, SettingsDep, require_api_access
from app.api.schemas.common import ERROR_RESPONSES
from app.api.schemas.system import Health, OccupyingRun, QueuedRun, SystemOut, WorkerOut
from app.store.broker import describe, queue_lengths, read_workers, write_refusal
from app.store.db import ping
from app.store.queues import QUEUES
from app.store.run_queries import list_runs, queue_positions, running_placements
from app.store.settings import Settings

router = APIRouter(tags=["system"])
DATABASE_DOWN = "the database is not answering"


def _broker_and_workers(settings: Settings) -> tuple[str | None, int]:
    """Why the broker cannot take jobs (None: it can), and the workers it lists."""
    try:
        return write_refusal(settings), len(read_workers(settings))
    except Exception as exc:
        return describe(exc), 0


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(request: Request) -> JSONResponse:
    """Database, broker and the number of live workers; 503 when a part is down."""
    settings = request.app.state.settings
    database = await run_in_threadpool(ping)
    problem, workers = await run_in_threadpool(_broker_and_workers, settings)
    broker = problem is None
    ok = database and broker and workers > 0
    reasons = [] if database else [DATABASE_DOWN]
    reasons += [] if broker else [problem]
    body = Health(
        status="ok" if ok else "degraded",
        database=database,
        broker=broker,
        workers=workers,
        reason="; ".join(r for r in reasons if r) or None,
    )
    return JSONResponse(body.model_dump(), status_code=200 if database and broker else 503)


@router.get("/system", dependencies=[Depends(require_api_access)], responses=ERROR_RESPONSES)
def system(session: SessionDep, settings: SettingsDep) -> SystemOut:
    """Workers with their devices and the runs that occupy them, queue lengths, and the
    order of queued runs."""
    reported = read_workers(settings)
    positions = queue_positions(session)
    queued, _ = list_runs(session, state="queued", limit=500)
    # every queue a worker consumes, and those queued runs wait on (none may consume them)
    queues = sorted(
        {*QUEUES, *(q for w in reported for q in w.get("queues", [])), *(r.queue for r in queued)}
    )
    lengths = queue_lengths(settings, tuple(queues))
    held: dict[str, list[tuple[int, str, dict]]] = {}
    for run_id, name, placement in running_placements(session):
        held.setdefault(placement.get("worker", ""), []).append((run_id, name, placement))
    workers = []
    for w in reported:
        mine = held.get(w.get("name", "?"), [])
        devices = []
        for device in w.get("devices", []):
            on_it = [
                run_id
                for run_id, _, p in mine
                if (device.get("kind") == "cuda" and device.get("index") in p.get("gpus", []))
                or (device.get("kind") == "cpu" and not p.get("gpus"))
            ]
            devices.append({**device, "runs": on_it})
        workers.append(
            WorkerOut(
                name=w.get("name", "?"),
                queues=w.get("queues", []),
                pid=w.get("pid"),
                devices=devices,
                runs=[
                    OccupyingRun(
                        id=run_id,
                        name=name,
                        devices=p.get("devices", []),
                        processes=p.get("processes", 1),
                    )
                    for run_id, name, p in mine
                ],
                started_at=w.get("started_at"),
                seen_at=w.get("seen_at"),
            )
        )
    runs = sorted(
        (
            QueuedRun(id=r.id, name=r.name, position=positions[r.id])
            for r in queued
            if r.id in positions
        ),
        key=lambda q: q.position,
    )
    return SystemOut(
        workers=workers, queues=lengths, queued_runs=runs, broker_problem=write_refusal(settings)
    )
