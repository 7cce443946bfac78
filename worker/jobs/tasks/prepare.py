"""studio.prepare: tokenize a dataset with one tokenizer and split; when it is ready the runs
waiting for it move on to the train queue (`app.store.preparations`)."""

from __future__ import annotations

import logging
import shutil

from app.planning.ingest import INPUT_NAME
from app.store import preparations
from app.store.queues import PREPARE
from app.store.settings import get_settings
from app.store.states import FailureReason
from worker.engine.errors import EngineError
from worker.jobs.celery_app import celery_app
from worker.jobs.identity import worker_id
from worker.jobs.throttle import throttled

log = logging.getLogger(__name__)


@celery_app.task(name=PREPARE.name, acks_late=True)
def prepare_dataset(prep_id: int) -> str:
    from worker.engine.data.prepare import prepare

    owner = worker_id()
    if not preparations.claim(prep_id, owner).held:
        return "skipped"
    settings = get_settings()
    job = preparations.load_job(prep_id)
    source = settings.dataset_dir(job.dataset_id) / INPUT_NAME
    out_dir = settings.prepared_dir(job.dataset_id, job.tokenizer, job.val_fraction)
    shutil.rmtree(out_dir, ignore_errors=True)  # left by an attempt that was cut short

    def write(fraction: float) -> None:
        preparations.heartbeat(prep_id, owner, fraction)

    try:
        result = prepare(
            source,
            out_dir,
            tokenizer=job.tokenizer,
            val_fraction=job.val_fraction,
            progress=throttled(write),
        )
    except EngineError as exc:
        reason = FailureReason.DATA if exc.reason == "data" else FailureReason.CONFIG
        preparations.fail(prep_id, owner, reason, exc.message).followup.send()
        return "failed"
    except Exception as exc:
        log.exception("preparation %s failed", prep_id)
        message = f"{type(exc).__name__}: {exc}"
        preparations.fail(prep_id, owner, FailureReason.INTERNAL, message).followup.send()
        return "failed"
    preparations.finish(
        prep_id,
        owner,
        train_tokens=result.train_tokens,
        val_tokens=result.val_tokens,
        vocab_size=result.vocab_size,
        split=result.split,
    ).followup.send()
    return "done"
