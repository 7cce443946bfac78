"""The Celery app that consumes the studio's queues. Task names, queues, routes and the wire
settings come from `app.store.queues`, which the senders use too; this adds how a worker
consumes: late acks, one message at a time, JSON only."""

from __future__ import annotations

from celery import Celery

from app.store.queues import APP_NAME, celery_config
from app.store.settings import get_settings
from worker.jobs.broker_transport import TRANSPORT

TASK_MODULES = [
    "worker.jobs.tasks.inspect",
    "worker.jobs.tasks.prepare",
    "worker.jobs.tasks.train",
    "worker.jobs.tasks.sample",
    "worker.jobs.tasks.complete",
    "worker.jobs.tasks.export",
    "worker.jobs.tasks.evaluate",
]


def make_celery() -> Celery:
    app = Celery(APP_NAME, include=TASK_MODULES)
    app.conf.update(celery_config(get_settings().redis_url or "redis://127.0.0.1:6379/0"))
    app.conf.update(
        # A redelivered message is a harmless no-op (the row is claimed once), so a job is
        # acknowledged only when done, and a worker that dies hands its message back.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        worker_enable_remote_control=True,
        # A broker that refuses writes (a full disk) is waited out, not crashed on; and
        # however long it lasts, the worker waits (worker.jobs.broker_transport).
        broker_transport=TRANSPORT,
        broker_connection_max_retries=None,
    )
    return app


celery_app = make_celery()
app = celery_app  # `celery -A worker.jobs.celery_app` finds `app`

# The worker's own duties (registry, reaper) hook Celery's signals; import it wherever the
# app is, because a prefork worker's main process does not import `include` modules itself.
import worker.jobs.lifecycle  # noqa: E402, F401
