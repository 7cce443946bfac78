"""studio.sample: stream text from a run's checkpoint back over the request's channel."""

from __future__ import annotations

import logging
from typing import Any

from app.store import samples
from app.store.broker import client, sample_channel
from app.store.queues import SAMPLE
from app.store.settings import get_settings
from worker.engine.errors import EngineError
from worker.jobs.celery_app import celery_app
from worker.jobs.sampler_cache import SamplerCache

log = logging.getLogger(__name__)
_cache: SamplerCache | None = None


def samplers() -> SamplerCache:
    """This worker process's warm checkpoints, shared by samples and completions."""
    global _cache
    if _cache is None:
        _cache = SamplerCache(get_settings().sampler_cache_size)
    return _cache


@celery_app.task(name=SAMPLE.name, acks_late=False)
def sample(request_id: str, run_id: int, payload: dict[str, Any]) -> None:
    from worker.engine.sampling.sample import SampleOptions

    settings = get_settings()
    conn = client(settings)
    channel = sample_channel(request_id)
    try:
        path = settings.run_dir(run_id) / payload["checkpoint"]
        sampler = samplers().get(path)
        conn.publish(channel, samples.started(sampler.iter_num))
        options = SampleOptions(**payload["options"], num_samples=1)
        for piece in sampler.stream(payload["prompt"], options):
            conn.publish(channel, samples.token(piece))
        conn.publish(channel, samples.done())
    except EngineError as exc:
        conn.publish(channel, samples.failed(exc.reason, exc.message, exc.field))
    except FileNotFoundError:
        conn.publish(channel, samples.failed("data", "the checkpoint is gone", "checkpoint"))
    except Exception as exc:
        log.exception("sample %s from run %s failed", request_id, run_id)
        conn.publish(channel, samples.failed("internal", str(exc)))
    finally:
        conn.close()
