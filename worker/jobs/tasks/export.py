"""studio.export: pack a run's checkpoint in another tool's format as one .zip
(`worker.engine.checkpoints.export_archive`), on the prepare queue. The job heartbeats while it
writes, so the reaper can tell a long export from a lost one (`app.store.lease.reap`)."""

from __future__ import annotations

import contextlib
import errno
import logging
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

from app.store import exports
from app.store.queues import EXPORT
from app.store.settings import get_settings
from app.store.states import FailureReason
from worker.engine.errors import EngineError
from worker.jobs.celery_app import celery_app
from worker.jobs.identity import worker_id

log = logging.getLogger(__name__)


@celery_app.task(name=EXPORT.name, acks_late=True)
def export_run(export_id: int) -> str:
    from worker.engine.checkpoints.export_archive import export_archive

    owner = worker_id()
    if not exports.claim(export_id, owner).held:
        return "skipped"
    job = exports.load_job(export_id)
    settings = get_settings()
    archive = exports.archive_path(settings, run_id=job.run_id, export_id=export_id)
    checkpoint = settings.run_dir(job.run_id) / job.checkpoint_file

    def fail(reason: FailureReason, message: str) -> str:
        if not exports.fail(export_id, owner, reason, message).held:
            if not exports.export_exists(export_id):
                _remove_orphan(archive)  # its run was deleted while it was written
            return "lost"
        return "failed"

    try:
        # Not parents=True: a run deleted meanwhile must not get its folder back.
        archive.parent.mkdir(exist_ok=True)
        for left in archive.parent.glob(f".{archive.name}.*.partial"):
            shutil.rmtree(left, ignore_errors=True)  # an attempt that was cut short
        with _heartbeating(export_id, owner, settings.heartbeat_interval_s):
            result = export_archive(
                checkpoint,
                job.format,
                archive,
                folder=exports.folder_name(run_id=job.run_id, fmt=job.format),
            )
    except EngineError as exc:
        reason = FailureReason.DATA if exc.reason == "data" else FailureReason.CONFIG
        return fail(reason, exc.message)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return fail(FailureReason.DISK_FULL, f"the disk is full: {exc}")
        if not checkpoint.parent.is_dir():
            return fail(FailureReason.DATA, f"run {job.run_id}'s folder is gone")
        log.exception("export %s failed", export_id)
        return fail(FailureReason.INTERNAL, f"{type(exc).__name__}: {exc}")
    except Exception as exc:
        log.exception("export %s failed", export_id)
        return fail(FailureReason.INTERNAL, f"{type(exc).__name__}: {exc}")
    size, iter_num = result.size_bytes, result.iter_num
    if exports.finish(export_id, owner, size_bytes=size, iter_num=iter_num).held:
        return "done"
    if not exports.export_exists(export_id):
        _remove_orphan(archive)  # its run was deleted while it was written
    return "lost"


@contextlib.contextmanager
def _heartbeating(export_id: int, owner: str, every_s: float) -> Iterator[None]:
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every_s):
            try:
                if not exports.heartbeat(export_id, owner).held:
                    return  # reaped or deleted: finishing will find out
            except Exception:  # the database blinked; the next beat tries again
                log.warning("export %s: heartbeat failed", export_id, exc_info=True)

    thread = threading.Thread(target=beat, name=f"export-{export_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _remove_orphan(archive: Path) -> None:
    archive.unlink(missing_ok=True)
    for folder in (archive.parent, archive.parent.parent):
        with contextlib.suppress(OSError):  # not empty: someone else's files
            folder.rmdir()
