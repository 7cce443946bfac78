"""The Celery app. Messages are wake-ups that carry ids only (JSON, never pickle); the
database row is the truth, so a lost or duplicated message never changes an outcome."""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from app.core.broker import QUEUES
from app.core.settings import get_settings

TASK_ROUTES = {
    "studio.inspect": {"queue": "prepare"},
    "studio.prepare": {"queue": "prepare"},
    "studio.train": {"queue": "train"},
    "studio.sample": {"queue": "sample"},
}


INCLUDE = ["worker.tasks.prepare", "worker.tasks.train", "worker.tasks.sample"]


def make_celery() -> Celery:
    settings = get_settings()
    app = Celery(
        "nanogpt_studio",
        include=["worker.tasks.prepare", "worker.tasks.train", "worker.tasks.sample"],
    )
    app.conf.update(
        broker_url=settings.redis_url or "redis://127.0.0.1:6379/0",
        broker_connection_retry_on_startup=True,
        # Longer than a message waits unacked in practice; a redelivery is a harmless no-op.
        broker_transport_options={"visibility_timeout": 6 * 3600},
        task_ignore_result=True,
        result_backend=None,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue="prepare",
        task_routes=TASK_ROUTES,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        worker_enable_remote_control=True,
        timezone="UTC",
    )
    return app


celery_app = make_celery()
app = celery_app  # `celery -A worker.celery_app` finds `app`

# The worker's own duties (registry, reaper) hook Celery's signals; import it wherever the
# app is, because a prefork worker's main process does not import `include` modules itself.
import worker.lifecycle  # noqa: E402, F401
