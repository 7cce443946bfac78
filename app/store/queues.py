"""Task names, queues and routes, defined once: the store sends jobs by name, the job side's
Celery app (`worker.jobs.celery_app`) consumes them with the same configuration. A message
is a wake-up that carries ids only (JSON, never pickle); the row is the truth, so a job is
sent only after the row it names has committed."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from app.store.broker import require_url
from app.store.settings import get_settings

if TYPE_CHECKING:
    from celery import Celery


@dataclass(frozen=True)
class Task:
    name: str
    queue: str
    # A row stands behind the job (queued, inspecting): a wake-up lost on the way is sent
    # again by the reaper. A sample has no row: its caller must hear that it was not sent.
    durable: bool = True


INSPECT = Task("studio.inspect", "prepare")  # describe a large upload
PREPARE = Task("studio.prepare", "prepare")  # tokenize a dataset
TRAIN = Task("studio.train", "train")  # train a run in a child process
SAMPLE = Task("studio.sample", "sample", durable=False)  # generate from a checkpoint
EXPORT = Task("studio.export", "prepare")  # pack a checkpoint in another tool's format
COMPLETE = Task("studio.complete", "sample", durable=False)  # POST /v1/completions
EVALUATE = Task("studio.evaluate", "prepare")  # score a checkpoint on a text of the user's

TASKS = (INSPECT, PREPARE, TRAIN, SAMPLE, EXPORT, COMPLETE, EVALUATE)
QUEUES = ("prepare", "train", "sample")
ROUTES = {task.name: {"queue": task.queue} for task in TASKS}
APP_NAME = "nanogpt_studio"


def celery_config(broker_url: str) -> dict[str, Any]:
    """What senders and workers must agree on: broker, serializer, queues and routes."""
    from kombu import Queue

    return {
        "broker_url": broker_url,
        "broker_connection_retry_on_startup": True,
        # Longer than a message waits unacked in practice; a redelivery is a harmless no-op.
        "broker_transport_options": {"visibility_timeout": 6 * 3600},
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "result_backend": None,
        # train.cuda.<N> queues are declared by the workers that consume them
        "task_queues": [Queue(name) for name in QUEUES],
        "task_default_queue": PREPARE.queue,
        "task_routes": ROUTES,
        "timezone": "UTC",
    }


_SEND_LOCK = threading.Lock()


@lru_cache(maxsize=4)
def _sender(broker_url: str) -> Celery:
    from celery import Celery

    # Not the current app: in a worker process that is the consuming app, not this one.
    app = Celery(APP_NAME, set_as_current=False)
    app.conf.update(celery_config(broker_url))
    return app


def send(task: Task, *args: Any, expires_s: float | None = None, queue: str | None = None) -> None:
    """Put a job on its queue (or on `queue`: a run's train queue, `app.planning.routing`).
    With `expires_s`, a job nobody waits for any more is dropped."""
    options = {} if expires_s is None else {"expires": expires_s}
    # One send at a time: the API sends from its thread pool, and Celery's first use in a
    # process (its lazy module attributes, the app's producer pool) is not thread-safe:
    # concurrent first requests failed with "cannot import name 'Celery'" as a 503.
    with _SEND_LOCK:
        sender = _sender(require_url(get_settings()))
        sender.send_task(task.name, args=list(args), queue=queue or task.queue, **options)
