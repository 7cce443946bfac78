"""studio.complete: OpenAI-style completions (POST /v1/completions) from a run's checkpoint,
on the sample worker's warm model cache. A wake-up takes every request waiting for its model
(`app.store.completions.take_requests`, up to BATCH_ROWS choices) and generates them in one
batch (`worker.engine.sampling.together`), then takes those that came meanwhile, until none
waits; each request's pieces go back over its own channel."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from app.store import completions
from app.store.broker import Connection, client, sample_channel
from app.store.queues import COMPLETE
from app.store.settings import get_settings
from worker.engine.errors import EngineError
from worker.jobs.celery_app import celery_app
from worker.jobs.tasks.sample import samplers

log = logging.getLogger(__name__)

# Choices generated in one batch at most: on a CPU a step of 64 rows of a small model still
# costs far less than 64 steps of one (docs/benchmarks.md, /v1)
BATCH_ROWS = 64


@dataclass
class _Request:
    """One request of a batch: its completions (a prompt each) and the choices still going."""

    request_id: str
    channel: str
    jobs: list[Any] = field(default_factory=list)  # its Completions, in prompt order
    open_choices: int = 0
    done: bool = False


@celery_app.task(name=COMPLETE.name, acks_late=False)
def complete(run_id: int, checkpoint: str) -> None:
    settings = get_settings()
    conn = client(settings)
    try:
        while waiting := completions.take_requests(
            conn, run_id=run_id, checkpoint=checkpoint, rows=BATCH_ROWS
        ):
            _serve(conn, settings.run_dir(run_id) / checkpoint, waiting)
    finally:
        conn.close()


def _serve(conn: Connection, path: Any, waiting: list[dict[str, Any]]) -> None:
    """Generate the waiting requests together; a request its prompt or options refuse gets
    its error, the others go on."""
    from worker.engine.sampling.completions import Completion, CompletionRequest
    from worker.engine.sampling.together import batches, complete_together

    requests: list[_Request] = []
    try:
        sampler = samplers().get(path)
    except FileNotFoundError:
        for entry in waiting:
            channel = sample_channel(entry["request_id"])
            _fail(conn, channel, "data", "the checkpoint is gone", "model")
        return
    except EngineError as exc:
        for entry in waiting:
            _fail(conn, sample_channel(entry["request_id"]), exc.reason, exc.message, exc.field)
        return
    for entry in waiting:
        request = _Request(entry["request_id"], sample_channel(entry["request_id"]))
        options = dict(entry["payload"]["options"])
        options["stop"] = tuple(options.get("stop") or ())
        try:  # every prompt encoded (and refused) before anything is generated
            request.jobs = [
                Completion(sampler, CompletionRequest(prompt=prompt, **options))
                for prompt in entry["payload"]["prompts"]
            ]
        except EngineError as exc:
            _fail(conn, request.channel, exc.reason, exc.message, exc.field)
            continue
        request.open_choices = sum(job.request.n for job in request.jobs)
        requests.append(request)
    jobs = [(request, job) for request in requests for job in request.jobs]
    if not jobs:
        return
    together = {  # each request: how many requests are generated in its batch
        id(jobs[i][0]): len({id(jobs[j][0]) for j in group})
        for group in batches([job for _, job in jobs])
        for i in group
    }
    for request in requests:
        prompt_tokens = sum(job.prompt_tokens for job in request.jobs)
        conn.publish(request.channel, completions.started(prompt_tokens, together[id(request)]))
    # prompt p's choice i is choice p * n + i, as OpenAI numbers them
    first_indices = [
        p * job.request.n for request in requests for p, job in enumerate(request.jobs)
    ]
    try:
        for number, piece in complete_together([job for _, job in jobs], first_indices):
            request = jobs[number][0]
            logprobs = piece.logprobs.to_json() if piece.logprobs is not None else None
            conn.publish(
                request.channel,
                completions.piece(
                    piece.index, piece.text, logprobs, piece.finish_reason, piece.completion_tokens
                ),
            )
            if piece.finish_reason is not None:
                request.open_choices -= 1
                if request.open_choices == 0:  # its last choice ended: no waiting for the rest
                    _done(conn, request)
        for request in requests:
            _done(conn, request)
    except Exception as exc:
        log.exception("completions from %s failed", path)
        failure = (
            (exc.reason, exc.message) if isinstance(exc, EngineError) else ("internal", str(exc))
        )
        for request in requests:
            if not request.done:
                _fail(conn, request.channel, *failure)


def _done(conn: Connection, request: _Request) -> None:
    if not request.done:
        request.done = True
        conn.publish(request.channel, completions.done())


def _fail(
    conn: Connection, channel: str, code: str, text: str, field_name: str | None = None
) -> None:
    conn.publish(channel, completions.failed(code, text, field_name))
