"""What must happen once a transaction has committed: the jobs to wake up and the events to
publish. Every transition returns one; whoever commits the transaction then calls `send()`,
so no worker ever picks up a message for a row it cannot see yet, and no SSE client hears of
a change the database does not hold.

Nothing here can undo a commit, so a broker that is away loses no work: a durable job that
cannot be sent is logged and left to the reaper, which sends a queued row's wake-up again when
no worker has claimed the row in time (`app.store.lease.resend`); an event that cannot be
published is logged and dropped, because every reader has the database to fall back on (SSE
replays it and re-reads the run's state). Only a job with no row behind it (a sample)
raises, as 503."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from app.store import queues
from app.store.broker import OutageLog, client, describe, run_channel
from app.store.errors import UnavailableError
from app.store.event_wire import RunEvent
from app.store.queues import Task
from app.store.settings import get_settings

log = logging.getLogger(__name__)
_unsent = OutageLog(log, "wake-ups not sent (the reaper sends them later)")
_unpublished = OutageLog(log, "events not published (readers fall back on the database)")


@dataclass(frozen=True)
class Job:
    task: Task
    args: tuple[Any, ...]
    expires_s: float | None = None
    queue: str | None = None  # another queue than the task's (a run's train queue)


@dataclass
class Followup:
    jobs: list[Job] = field(default_factory=list)
    events: list[tuple[int, RunEvent]] = field(default_factory=list)  # (run id, event)

    def enqueue(
        self, task: Task, *args: Any, expires_s: float | None = None, queue: str | None = None
    ) -> None:
        self.jobs.append(Job(task, args, expires_s, queue))

    def publish(self, run_id: int, event: RunEvent) -> None:
        self.events.append((run_id, event))

    def extend(self, other: Followup) -> Followup:
        self.jobs.extend(other.jobs)
        self.events.extend(other.events)
        return self

    def send(self) -> None:
        for job in self.jobs:
            try:
                queues.send(job.task, *job.args, expires_s=job.expires_s, queue=job.queue)
                _unsent.ok()
            except Exception as exc:
                if job.task.durable:
                    _unsent.failed(exc)
                elif isinstance(exc, UnavailableError):
                    raise
                else:
                    raise UnavailableError(describe(exc), code="broker_unavailable") from exc
        if not self.events:
            return
        try:
            conn = client(get_settings())
            try:
                for run_id, event in self.events:
                    conn.publish(run_channel(run_id), event.message())
            finally:
                conn.close()
            _unpublished.ok()
        except Exception as exc:  # the broker is away: readers fall back on the database
            _unpublished.failed(exc)
