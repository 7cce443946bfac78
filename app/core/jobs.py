"""Enqueue jobs by task name. Called only after the row they refer to is committed, so a
worker that picks a message up always finds its row."""

from __future__ import annotations

from typing import Any

from app.core.broker import require_url
from app.core.settings import get_settings

INSPECT = "studio.inspect"
PREPARE = "studio.prepare"
TRAIN = "studio.train"
SAMPLE = "studio.sample"


def _send(name: str, args: list[Any], queue: str, **options: Any) -> None:
    url = require_url(get_settings())
    from worker.celery_app import celery_app  # celery only; no torch

    if url == celery_app.conf.broker_url:
        celery_app.send_task(name, args=args, queue=queue, **options)
        return
    # Settings changed since the app was made (tests switch brokers): connect explicitly.
    with celery_app.connection_for_write(url) as connection:
        celery_app.send_task(name, args=args, queue=queue, connection=connection, **options)


def enqueue_inspect(dataset_id: int) -> None:
    _send(INSPECT, [dataset_id], "prepare")


def enqueue_prepare(preparation_id: int) -> None:
    _send(PREPARE, [preparation_id], "prepare")


def enqueue_train(run_id: int) -> None:
    _send(TRAIN, [run_id], "train")


def enqueue_sample(request_id: str, run_id: int, options: dict[str, Any], expires_s: float) -> None:
    # A sample nobody waits for any more is dropped rather than computed.
    _send(SAMPLE, [request_id, run_id, options], "sample", expires=expires_s)
