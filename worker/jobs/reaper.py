"""Finds work whose heartbeat went stale (worker killed, machine rebooted) and hands it back:
runs and preparations to their queue (a run resumes from its newest checkpoint), large uploads
to the inspect job, up to max_attempts, then fails them. The store's transitions are
conditional, so several reapers may run at once."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from app.store.datasets import reap_stale_inspections
from app.store.preparations import reap_stale_preparations
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


def reap(settings: Settings) -> Reaped:
    limits = {"stale_after_s": settings.stale_after_s, "max_attempts": settings.max_attempts}
    runs = reap_stale_runs(**limits)
    runs.followup.send()
    preparations = reap_stale_preparations(**limits)
    preparations.followup.send()
    inspections = reap_stale_inspections(**limits)
    inspections.followup.send()
    out = Reaped(
        requeued_runs=runs.requeued,
        failed_runs=runs.failed,
        requeued_preparations=preparations.requeued,
        failed_preparations=preparations.failed,
        reinspected_datasets=inspections.retried,
        failed_datasets=inspections.failed,
    )
    if any(vars(out).values()):
        log.warning("reaper: %s", out)
    return out
