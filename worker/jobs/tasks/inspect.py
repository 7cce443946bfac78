"""studio.inspect: read a large corpus (the files it was sent as, or a server path) into the
dataset's corpus file, then describe it (documents, characters, vocabulary, GPT-2 tokens)."""

from __future__ import annotations

import shutil
from collections.abc import Callable

from app.planning import ingest
from app.store import datasets
from app.store.errors import StudioError
from app.store.queues import INSPECT
from app.store.settings import get_settings
from worker.engine.errors import EngineError
from worker.jobs.celery_app import celery_app
from worker.jobs.identity import worker_id
from worker.jobs.throttle import throttled

# Share of the progress bar for reading the sources (the rest describes the corpus: the
# GPT-2 count makes describing the slower half).
_READ_SHARE = 0.4


@celery_app.task(name=INSPECT.name, acks_late=True)
def inspect_dataset(dataset_id: int) -> str:
    settings = get_settings()
    owner = worker_id()
    if not datasets.claim(dataset_id, owner).held:
        return "skipped"
    folder = settings.dataset_dir(dataset_id)
    corpus = folder / ingest.INPUT_NAME
    inputs, read_options = datasets.pending_read(dataset_id)
    share = _READ_SHARE if inputs else 0.0

    def report_progress(start: float, width: float) -> Callable[[int, int], None]:
        """A part of the bar: this pass's (done, total) mapped onto start..start + width."""
        return throttled(lambda f: datasets.heartbeat(dataset_id, owner, start + width * f))

    report = None
    try:
        if inputs:
            options = ingest.corpus_options(settings, ingest.ReadOptions(**read_options))
            report = ingest.read_sources(
                settings,
                ingest.pending_sources(settings, dataset_id, inputs),
                corpus,
                options,
                progress=report_progress(0.0, share),
            )
        stats = ingest.describe(corpus, progress=report_progress(share, 1 - share))
    except (EngineError, StudioError) as exc:
        datasets.fail(dataset_id, owner, exc.message)
        return "failed"
    if not datasets.finish(dataset_id, owner, stats, report).held:
        return "lost"  # reaped meanwhile: the attempt that holds it now says how it ends
    shutil.rmtree(folder / ingest.SOURCES_DIR, ignore_errors=True)  # read: no longer needed
    return "done"
