"""An export (a run's checkpoint in another tool's format, one .zip at
runs/<run>/exports/<id>.zip) and its state machine; every change of its state or lease is a
function here.

    queued ──▶ running ──▶ ready
      ▲           │
      └── retry ──┴──▶ failed      (a refusal of the engine, a full disk, or lost workers)

The job runs on the prepare queue. Changes are conditional UPDATEs (a worker's through the
lease, `app.store.lease`, only while it holds it), so a duplicate message or a second reaper
changes nothing. The rows go with their run (foreign key, ON DELETE CASCADE) and the files
with its folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.store import lease
from app.store.db import get_db
from app.store.errors import ConflictError, InvalidError, NotFoundError
from app.store.followup import Followup
from app.store.lease import Held, Lease
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


def load_job(export_id: int) -> ExportJob:
    """What a claimed export packs."""
    with get_db().session() as session:
        export = session.get(Export, export_id)
        assert export is not None, f"export {export_id} vanished while claimed"
        return ExportJob(export.run_id, export.format, export.checkpoint)


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
    require_checkpoint(settings, run, checkpoint)
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


def require_checkpoint(settings: Settings, run: Run, checkpoint: str) -> None:
    """409 `no_checkpoint` when the run's `latest` or `best` checkpoint is not written yet
    (for an export, and for an evaluation: app.store.evaluations)."""
    name = CHECKPOINT_FILES[checkpoint]
    if not (settings.run_dir(run.id) / name).is_file():
        raise ConflictError(_no_checkpoint(run, name), field="checkpoint", code="no_checkpoint")


def _no_checkpoint(run: Run, name: str) -> str:
    if name == "best.pt":
        return (
            f"run {run.id} has no best.pt yet: it is written at an evaluation that improves "
            "the validation loss; export latest (ckpt.pt) instead, or wait for one"
        )
    every = run.config.get("eval_interval")
    when = f" (every {every} iterations)" if isinstance(every, int) else ""
    return f"run {run.id} has no checkpoint yet: the first is written at an evaluation{when}"


# --- the export job's side: the lease (app.store.lease) with an export's own writes ---


EXPORTS = Lease(
    name="exports",
    model=Export,
    queued=ExportState.QUEUED,
    running=ExportState.RUNNING,
    wake=EXPORT,
    failed=lease.failed_with_reason(ExportState.FAILED),
    queued_since=(Export.heartbeat_at, Export.created_at),
)


def claim(export_id: int, owner: str) -> Held:
    """queued → running, held by `owner`; not held when it is not queued (a duplicate, or
    gone). What to export is `load_job`'s."""
    return lease.claim(EXPORTS, export_id, owner, values={"started_at": utcnow()})


def heartbeat(export_id: int, owner: str) -> Held:
    """Not held when the lease is gone (reaped, or the run deleted)."""
    return lease.heartbeat(EXPORTS, export_id, owner)


def finish(export_id: int, owner: str, *, size_bytes: int, iter_num: int) -> Held:
    """running → ready; not held when the lease was gone."""
    values = {
        "state": ExportState.READY,
        "size_bytes": size_bytes,
        "iter": iter_num,
        "finished_at": utcnow(),
    }
    return lease.finish(EXPORTS, export_id, owner, values=values)


def fail(export_id: int, owner: str, reason: FailureReason, message: str) -> Held:
    return lease.fail(EXPORTS, export_id, owner, reason, message)
