"""The reaper: one pass of the lease's sweep (`app.store.lease`) over every kind of job. Work
whose heartbeat went stale (worker killed, machine rebooted) is handed back to its queue (a
run resumes from its newest checkpoint) up to max_attempts, then failed; a run whose cancel
was asked ends cancelled. And the wake-up of every row queued and not claimed within
resend_after_s is sent again, whatever the broker says it delivered. The lease's writes and
claims are conditional, so several reapers may run at once, and a wake-up sent twice is
harmless. Then the sweeps' next steps (`worker.jobs.sweeper`), from the database alike."""

from __future__ import annotations

import logging

from app.store import datasets, evaluations, exports, lease, preparations, run_lease
from app.store.lease import Lease, Reaped
from app.store.settings import Settings
from worker.jobs.sweeper import drive_sweeps

log = logging.getLogger(__name__)

LEASES: tuple[Lease, ...] = (
    run_lease.RUNS,
    preparations.PREPARATIONS,
    datasets.INSPECTIONS,
    exports.EXPORTS,
    evaluations.EVALUATIONS,
)


def reap(settings: Settings) -> dict[str, Reaped]:
    """What this pass did, by kind of job (runs, preparations, inspections, exports,
    evaluations)."""
    out: dict[str, Reaped] = {}
    for kind in LEASES:
        reaped = lease.reap(
            kind, stale_after_s=settings.stale_after_s, max_attempts=settings.max_attempts
        )
        reaped.followup.send()
        reaped.resent = lease.resend(kind, settings, after_s=settings.resend_after_s)
        out[kind.name] = reaped
    done = {name: reaped for name, reaped in out.items() if reaped}
    if done:
        log.warning("reaper: %s", done)
    drive_sweeps()
    return out
