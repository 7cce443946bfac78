"""studio.evaluate: score a run's checkpoint on a text of the user's (a dataset's corpus or
pasted text) with `worker.engine.sampling.score`, on the prepare queue, writing its progress
(and so its heartbeat) as it goes."""

from __future__ import annotations

import dataclasses
import logging

from app.planning.ingest import INPUT_NAME
from app.store import evaluations
from app.store.queues import EVALUATE
from app.store.settings import get_settings
from app.store.states import FailureReason
from worker.engine.errors import EngineError
from worker.jobs.celery_app import celery_app
from worker.jobs.identity import worker_id
from worker.jobs.throttle import throttled

log = logging.getLogger(__name__)


@celery_app.task(name=EVALUATE.name, acks_late=True)
def evaluate_run(evaluation_id: int) -> str:
    from worker.engine.sampling.sample import load_sampler
    from worker.engine.sampling.score import score_text

    owner = worker_id()
    if not evaluations.claim(evaluation_id, owner).held:
        return "skipped"
    job = evaluations.load_job(evaluation_id)
    settings = get_settings()

    def fail(reason: FailureReason, message: str) -> str:
        held = evaluations.fail(evaluation_id, owner, reason, message).held
        return "failed" if held else "lost"

    def write(fraction: float) -> None:
        evaluations.heartbeat(evaluation_id, owner, fraction)

    try:
        if job.text is not None:
            text = job.text
        else:
            assert job.dataset_id is not None
            source = settings.dataset_dir(job.dataset_id) / INPUT_NAME
            if not source.is_file():
                return fail(FailureReason.DATA, f"dataset {job.dataset_id}'s text is gone")
            text = source.read_text(encoding="utf-8")
        checkpoint = settings.run_dir(job.run_id) / job.checkpoint_file
        sampler = load_sampler(checkpoint, device="cpu")
        score = score_text(sampler, text, progress=throttled(write))
    except EngineError as exc:
        reason = FailureReason.DATA if exc.reason == "data" else FailureReason.CONFIG
        return fail(reason, exc.message)
    except Exception as exc:
        log.exception("evaluation %s failed", evaluation_id)
        return fail(FailureReason.INTERNAL, f"{type(exc).__name__}: {exc}")
    figures = dataclasses.asdict(score)
    if evaluations.finish(evaluation_id, owner, iter_num=sampler.iter_num, score=figures).held:
        return "done"
    return "lost"
