"""studio.inspect: describe a large upload (characters, lines, vocabulary, GPT-2 tokens)."""

from __future__ import annotations

from app.store import datasets
from app.store.ingest import INPUT_NAME
from app.store.queues import INSPECT
from app.store.settings import get_settings
from worker.engine.errors import EngineError
from worker.jobs.celery_app import celery_app
from worker.jobs.throttle import throttled


@celery_app.task(name=INSPECT.name, acks_late=True)
def inspect_dataset(dataset_id: int) -> str:
    from worker.engine.textstats import inspect_text

    settings = get_settings()
    if not datasets.claim_inspection(dataset_id, settings.stale_after_s):
        return "skipped"
    path = settings.dataset_dir(dataset_id) / INPUT_NAME

    def write(fraction: float) -> None:
        datasets.report_inspection(dataset_id, fraction)

    try:
        stats = inspect_text(path, progress=throttled(write))
    except EngineError as exc:
        datasets.fail_inspection(dataset_id, exc.message)
        return "failed"
    datasets.finish_inspection(dataset_id, stats.to_dict())
    return "done"
