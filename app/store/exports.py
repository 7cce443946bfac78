"""An export (a run's checkpoint in another tool's format, one .zip at
runs/<run>/exports/<id>.zip) and its state machine; every change of its state or lease is a
function here.

    queued ──▶ running ──▶ ready
      ▲           │
      └── retry ──┴──▶ failed      (a refusal of the engine, a full disk, or lost workers)

The job runs on the prepare queue. Changes are conditional UPDATEs (a worker's only while it
holds the lease), so a duplicate message or a second reaper changes nothing. The rows go with
their run (foreign key, ON DELETE CASCADE) and the files with its folder."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.orm import Session

from app.store.db import get_db
from app.store.errors import ConflictError, InvalidError, NotFoundError
from app.store.followup import Followup
from app.store.models import Export, Run, utcnow
from app.store.queues import EXPORT
from app.store.run_queries import get_run
from app.store.settings import Settings
from app.store.states import ExportState, FailureReason
from worker.engine.checkpoints.export_formats import FORMATS, arch_refusal

CHECKPOINT_FILES = {"latest": "ckpt.pt", "best": "best.pt"}


def archive_path(settings: Settings, *, run_id: int, export_id: int) -> Path:
    return settings.run_dir(run_id) / "exports" / f"{export_id}.zip"


def folder_name(*, run_id: int, fmt: str) -> str:
    """The one folder an archive unpacks to (`run3-hf`)."""
    return f"run{run_id}-{fmt}"


def download_name(export: Export) -> str:
    return f"run{export.run_id}-{export.format}-{export.id}.zip"


# --- reads ---


def list_exports(session: Session, *, run_id: int) -> list[Export]:
    """A run's exports, newest first (404 for an unknown run)."""
    get_run(session, run_id=run_id)
    query = select(Export).where(Export.run_id == run_id).order_by(Export.id.desc())
    return list(session.scalars(query))


def get_export(session: Session, *, run_id: int, export_id: int) -> Export:
    get_run(session, run_id=run_id)
    export = session.get(Export, export_id)
    if export is None or export.run_id != run_id:
        raise NotFoundError(f"run {run_id} has no export {export_id}", field="export_id")
    return export


def ready_file(session: Session, settings: Settings, *, run_id: int, export_id: int) -> Path:
    """The archive of a ready export; 409 naming its state until then."""
    export = get_export(session, run_id=run_id, export_id=export_id)
    if export.state == ExportState.FAILED:
        raise ConflictError(
            f"export {export_id} failed, so it has no file: {export.failure_message}",
            field="state",
            code="export_failed",
        )
    if export.state != ExportState.READY:
        raise ConflictError(
            f"export {export_id} is {export.state}; its file is there once it is ready",
            field="state",
            code="not_ready",
        )
    path = archive_path(settings, run_id=run_id, export_id=export_id)
    if not path.is_file():
        raise NotFoundError(f"the file of export {export_id} is missing on the server")
    return path


@dataclass(frozen=True)
class ExportJob:
    """What the export job needs to know."""

    run_id: int
    format: str
    checkpoint: str  # latest | best

    @property
    def checkpoint_file(self) -> str:
        return CHECKPOINT_FILES[self.checkpoint]


def queued_before(cutoff: datetime) -> list[int]:
    """Exports queued (made or reaped) since before `cutoff` (the reaper checks that their
    wake-up exists)."""
    since = func.coalesce(Export.heartbeat_at, Export.created_at)
    with get_db().session() as session:
        query = select(Export.id).where(Export.state == ExportState.QUEUED, since < cutoff)
        return list(session.scalars(query))


def export_exists(export_id: int) -> bool:
    with get_db().session() as session:
        return session.get(Export, export_id) is not None


# --- the API's transition: the caller commits, then sends the followup ---


def request_export(
    session: Session, settings: Settings, *, run_id: int, fmt: str, checkpoint: str
) -> tuple[Export, Followup]:
    """A new export of the run's `latest` or `best` checkpoint, queued; refused (409) when
    that checkpoint does not exist yet."""
    assert fmt in FORMATS and checkpoint in CHECKPOINT_FILES, (fmt, checkpoint)
    run = get_run(session, run_id=run_id)
    refusal = arch_refusal(str(run.config.get("arch", "gpt2")), fmt)
    if refusal:  # before any job, in the words the engine would use
        raise InvalidError(f"run {run_id}: {refusal}", field="format")
    name = CHECKPOINT_FILES[checkpoint]
    if not (settings.run_dir(run_id) / name).is_file():
        raise ConflictError(_no_checkpoint(run, name), field="checkpoint", code="no_checkpoint")
    export = Export(
        run_id=run_id,
        format=fmt,
        checkpoint=checkpoint,
        state=ExportState.QUEUED,
        attempts=0,
    )
    session.add(export)
    session.flush()
    followup = Followup()
    followup.enqueue(EXPORT, export.id)
    return export, followup


def _no_checkpoint(run: Run, name: str) -> str:
    if name == "best.pt":
        return (
            f"run {run.id} has no best.pt yet: it is written at an evaluation that improves "
            "the validation loss; export latest (ckpt.pt) instead, or wait for one"
        )
    every = run.config.get("eval_interval")
    when = f" (every {every} iterations)" if isinstance(every, int) else ""
    return f"run {run.id} has no checkpoint yet: the first is written at an evaluation{when}"


# --- the export job's transitions: each is its own transaction ---


def _held(export_id: int, owner: str) -> ColumnElement[bool]:
    return and_(
        Export.id == export_id, Export.worker_id == owner, Export.state == ExportState.RUNNING
    )


def claim_export(export_id: int, owner: str) -> ExportJob | None:
    """queued → running, held by `owner`; None when it is not queued (a duplicate, or gone)."""
    now = utcnow()
    with get_db().transaction() as session:
        claimed = session.execute(
            update(Export)
            .where(Export.id == export_id, Export.state == ExportState.QUEUED)
            .values(
                state=ExportState.RUNNING,
                worker_id=owner,
                heartbeat_at=now,
                started_at=now,
                attempts=Export.attempts + 1,
            )
        )
        if claimed.rowcount != 1:
            return None
        export = session.get(Export, export_id)
        assert export is not None
        return ExportJob(export.run_id, export.format, export.checkpoint)


def heartbeat(export_id: int, owner: str) -> bool:
    """False when the lease is gone (reaped, or the run deleted)."""
    with get_db().transaction() as session:
        held = session.execute(
            update(Export).where(_held(export_id, owner)).values(heartbeat_at=utcnow())
        )
        return held.rowcount == 1


def finish_export(export_id: int, owner: str, *, size_bytes: int, iter_num: int) -> bool:
    """running → ready; False when the lease was gone."""
    now = utcnow()
    with get_db().transaction() as session:
        ready = session.execute(
            update(Export)
            .where(_held(export_id, owner))
            .values(
                state=ExportState.READY,
                size_bytes=size_bytes,
                iter=iter_num,
                heartbeat_at=now,
                finished_at=now,
            )
        )
        return ready.rowcount == 1


def fail_export(export_id: int, owner: str, reason: FailureReason, message: str) -> bool:
    with get_db().transaction() as session:
        failed = session.execute(
            update(Export).where(_held(export_id, owner)).values(**_failed(reason, message))
        )
        return failed.rowcount == 1


def _failed(reason: FailureReason, message: str) -> dict[str, object]:
    return {
        "state": ExportState.FAILED,
        "failure_reason": reason,
        "failure_message": message[:4000],
        "finished_at": utcnow(),
    }


@dataclass
class ReapedExports:
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    followup: Followup = field(default_factory=Followup)


def reap_stale_exports(*, stale_after_s: float, max_attempts: int) -> ReapedExports:
    """Running exports whose heartbeat went stale (the worker was killed) are queued again,
    until `max_attempts`; then they fail as worker_lost, saying so."""
    cutoff = utcnow() - timedelta(seconds=stale_after_s)
    out = ReapedExports()
    with get_db().transaction() as session:
        stale = session.execute(
            select(Export.id, Export.attempts).where(
                Export.state == ExportState.RUNNING, Export.heartbeat_at < cutoff
            )
        ).all()
        for export_id, attempts in stale:
            guard = and_(
                Export.id == export_id,
                Export.state == ExportState.RUNNING,
                Export.heartbeat_at < cutoff,
            )
            if attempts >= max_attempts:
                message = (
                    f"the worker stopped answering during the export ({attempts} attempts); "
                    "start a new export"
                )
                values = _failed(FailureReason.WORKER_LOST, message)
                if session.execute(update(Export).where(guard).values(**values)).rowcount:
                    out.failed.append(export_id)
                continue
            requeued = session.execute(
                update(Export)
                .where(guard)
                .values(state=ExportState.QUEUED, worker_id=None, heartbeat_at=utcnow())
            )
            if requeued.rowcount:
                out.requeued.append(export_id)
                out.followup.enqueue(EXPORT, export_id)
    return out
