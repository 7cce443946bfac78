"""Finds work whose heartbeat went stale (worker killed, machine rebooted) and hands it back:
runs, preparations and exports to their queue (a run resumes from its newest checkpoint),
large uploads to the inspect job, up to max_attempts, then fails them. And it sends again the
wake-up of a queued run, preparation or export that the broker no longer holds (lost in a
broker restart, or not sent while it was away). The store's transitions and the claims are
conditional, so several reapers may run at once, and a wake-up sent twice is harmless."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.store import exports, preparations, run_queries
from app.store.broker import pending_first_args
from app.store.datasets import reap_stale_inspections
from app.store.models import utcnow
from app.store.preparations import reap_stale_preparations
from app.store.queues import EXPORT, PREPARE, TRAIN, Task, send
from app.store.runs import reap_stale_runs
from app.store.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Reaped:
    requeued_runs: list[int] = field(default_factory=list)
    failed_runs: list[int] = field(default_factory=list)
    requeued_preparations: list[int] = field(default_factory=list)
    failed_preparations: list[int] = field(default_factory=list)
    reinspected_datasets: list[int] = field(default_factory=list)
    failed_datasets: list[int] = field(default_factory=list)
    resent_runs: list[int] = field(default_factory=list)
    resent_preparations: list[int] = field(default_factory=list)
    requeued_exports: list[int] = field(default_factory=list)
    failed_exports: list[int] = field(default_factory=list)
    resent_exports: list[int] = field(default_factory=list)


def reap(settings: Settings) -> Reaped:
    limits = {"stale_after_s": settings.stale_after_s, "max_attempts": settings.max_attempts}
    runs = reap_stale_runs(**limits)
    runs.followup.send()
    preps = reap_stale_preparations(**limits)
    preps.followup.send()
    inspections = reap_stale_inspections(**limits)
    inspections.followup.send()
    stale_exports = exports.reap_stale_exports(**limits)
    stale_exports.followup.send()
    cutoff = utcnow() - timedelta(seconds=settings.resend_after_s)
    out = Reaped(
        requeued_runs=runs.requeued,
        failed_runs=runs.failed,
        requeued_preparations=preps.requeued,
        failed_preparations=preps.failed,
        reinspected_datasets=inspections.retried,
        failed_datasets=inspections.failed,
        resent_runs=resend_missing_runs(settings, cutoff),
        resent_preparations=resend_missing(settings, PREPARE, preparations.queued_before, cutoff),
        requeued_exports=stale_exports.requeued,
        failed_exports=stale_exports.failed,
        resent_exports=resend_missing(settings, EXPORT, exports.queued_before, cutoff),
    )
    if any(vars(out).values()):
        log.warning("reaper: %s", out)
    return out


def resend_missing_runs(settings: Settings, cutoff: datetime) -> list[int]:
    """The same for runs, each on its own train queue (`app.planning.routing`)."""
    queued = run_queries.queued_runs_before(cutoff)
    held: set[int] = set()
    for queue in sorted({queue for _, queue in queued}):
        held |= pending_first_args(settings, queue=queue, task_name=TRAIN.name)
    missing = [(row_id, queue) for row_id, queue in queued if row_id not in held]
    for row_id, queue in missing:
        send(TRAIN, row_id, queue=queue)
    return [row_id for row_id, _ in missing]


def resend_missing(
    settings: Settings, task: Task, queued_before: Callable[[datetime], list[int]], cutoff: datetime
) -> list[int]:
    """Send again the wake-up of each row queued before `cutoff` that the broker lacks."""
    queued = queued_before(cutoff)
    if not queued:
        return []
    held = pending_first_args(settings, queue=task.queue, task_name=task.name)
    missing = [row_id for row_id in queued if row_id not in held]
    for row_id in missing:
        send(task, row_id)
    return missing
