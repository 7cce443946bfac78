"""studio.complete: OpenAI-style completions (POST /v1/completions) from a run's checkpoint,
on the sample worker's warm model cache; pieces go back over the request's channel."""

from __future__ import annotations

import logging
from typing import Any

from app.store import completions
from app.store.broker import client, sample_channel
from app.store.queues import COMPLETE
from app.store.settings import get_settings
from worker.engine.errors import EngineError
from worker.jobs.celery_app import celery_app
from worker.jobs.tasks.sample import samplers

log = logging.getLogger(__name__)


@celery_app.task(name=COMPLETE.name, acks_late=False)
def complete(request_id: str, run_id: int, payload: dict[str, Any]) -> None:
    """payload: checkpoint (file name), prompts (a list), options (CompletionRequest's other
    fields). Prompt p's choice i is choice p * n + i, as OpenAI numbers them."""
    from worker.engine.sampling.completions import Completion, CompletionRequest

    settings = get_settings()
    conn = client(settings)
    channel = sample_channel(request_id)
    try:
        sampler = samplers().get(settings.run_dir(run_id) / payload["checkpoint"])
        options = dict(payload["options"])
        options["stop"] = tuple(options.get("stop") or ())
        jobs = [
            Completion(sampler, CompletionRequest(prompt=prompt, **options))
            for prompt in payload["prompts"]
        ]  # every prompt encoded (and refused) before anything is generated
        conn.publish(channel, completions.started(sum(job.prompt_tokens for job in jobs)))
        for number, job in enumerate(jobs):
            for piece in job.pieces(first_index=number * job.request.n):
                logprobs = piece.logprobs.to_json() if piece.logprobs is not None else None
                conn.publish(
                    channel,
                    completions.piece(
                        piece.index,
                        piece.text,
                        logprobs,
                        piece.finish_reason,
                        piece.completion_tokens,
                    ),
                )
        conn.publish(channel, completions.done())
    except EngineError as exc:
        conn.publish(channel, completions.failed(exc.reason, exc.message, exc.field))
    except FileNotFoundError:
        conn.publish(channel, completions.failed("data", "the checkpoint is gone", "model"))
    except Exception as exc:
        log.exception("completion %s from run %s failed", request_id, run_id)
        conn.publish(channel, completions.failed("internal", str(exc)))
    finally:
        conn.close()
