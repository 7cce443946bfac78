"""studio.sample: stream text from a run's checkpoint back over the request's channel."""

from __future__ import annotations

import logging
from typing import Any

from app.core.broker import client, publish, sample_channel
from app.core.settings import get_settings
from worker.celery_app import celery_app
from worker.engine.errors import EngineError
from worker.sampler_cache import SamplerCache

log = logging.getLogger(__name__)
_cache: SamplerCache | None = None


def _samplers() -> SamplerCache:
    global _cache
    if _cache is None:
        _cache = SamplerCache(get_settings().sampler_cache_size)
    return _cache


@celery_app.task(name="studio.sample", acks_late=False)
def sample(request_id: str, run_id: int, payload: dict[str, Any]) -> None:
    from worker.engine.sample import SampleOptions

    settings = get_settings()
    conn = client(settings)
    channel = sample_channel(request_id)
    try:
        path = settings.run_dir(run_id) / payload["checkpoint"]
        sampler = _samplers().get(path)
        publish(conn, channel, {"type": "start", "iter": sampler.iter_num})
        options = SampleOptions(**payload["options"], num_samples=1)
        for piece in sampler.stream(payload["prompt"], options):
            publish(conn, channel, {"type": "token", "text": piece})
        publish(conn, channel, {"type": "done"})
    except EngineError as exc:
        publish(conn, channel, {"type": "error", **exc.to_dict()})
    except FileNotFoundError:
        message = {"code": "data", "message": "the checkpoint is gone", "field": "checkpoint"}
        publish(conn, channel, {"type": "error", **message})
    except Exception as exc:
        log.exception("sample %s from run %s failed", request_id, run_id)
        publish(conn, channel, {"type": "error", "code": "internal", "message": str(exc)})
    finally:
        conn.close()
