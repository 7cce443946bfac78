"""The lease every job row is worked under (runs, preparations, exports and the inspection
of a large upload), written once and parameterised by a `Lease`: the table, its queued and
running states, the wake-up to send and how a failed row reads.

    queued ──claim──▶ running ──finish──▶ (the job's own end state)
      ▲                  │ ───fail────▶ failed
      └── put back, or ──┤              (the service stopping; a lost worker while attempts
          lost / reaped  │               remain: a run resumes from its newest checkpoint)
                         ├─ lost / reaped, attempts spent ──▶ failed, saying so
                         └─ lost / reaped, cancel asked ────▶ cancelled (runs)

A row is *queued* when it is in its queued state and held by nobody (`worker_id` NULL), and
*held* by `owner` when it is in its running state with `worker_id` = owner. (An inspection's
two states are one, `inspecting`: the owner tells them apart.) Every write is a conditional
UPDATE naming the state it leaves and the owner it needs, so a duplicate or redelivered
wake-up, a second reaper or a process that lost its lease changes nothing. A write that
changes a row's state calls the job's `changed` hook in the same transaction (a run publishes
its state and logs why an attempt ended; a preparation moves the runs waiting for it), and
returns the `Followup` to send once committed.

Wake-ups are decided from the database: `resend` sends again the wake-up of every row that
is queued and was not claimed within a bound of its last wake-up (`woken_at`), unless that
wake-up is waiting on its queue in the broker, undelivered; a message delivered to a worker
and not acknowledged counts for nothing (that worker may be gone). A duplicate is harmless:
the claim is conditional."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, literal, select, update
from sqlalchemy.orm import Session

from app.store import queues
from app.store.broker import pending_first_args
from app.store.db import get_db
from app.store.followup import Followup
from app.store.models import utcnow
from app.store.queues import Task
from app.store.settings import Settings
from app.store.states import FailureReason

LOST_WORKER = "the worker stopped answering"


def failed_with_reason(state: str) -> Callable[[FailureReason, str, datetime], dict[str, Any]]:
    """`Lease.failed` for a table with failure_reason, failure_message and finished_at."""

    def failed(reason: FailureReason, message: str, now: datetime) -> dict[str, Any]:
        return {
            "state": state,
            "failure_reason": reason,
            "failure_message": message[:4000],
            "finished_at": now,
        }

    return failed


@dataclass(frozen=True)
class Change:
    """What a lease write did to a row's state, for the job's `changed` hook."""

    state: str
    reason: FailureReason | None = None
    message: str | None = None
    note: str | None = None  # why an attempt ended, for the job's log


@dataclass(frozen=True)
class Cancel:
    """A job that can be cancelled while it runs: the flag its process polls, and the row's
    values once cancelled. A flagged row that loses its worker ends cancelled, never queued."""

    flag: Any  # the column (a boolean)
    values: Callable[[datetime], dict[str, Any]]
    state: str


@dataclass(frozen=True)
class Lease:
    name: str  # the jobs' name in the reaper's report: runs, preparations ...
    model: Any  # the ORM class: id, state, worker_id, heartbeat_at, attempts, woken_at
    queued: str
    running: str
    wake: Task
    # The values of a failed row: state, and the reason and message in the job's columns.
    failed: Callable[[FailureReason, str, datetime], dict[str, Any]]
    # Since when a row that the lease never woke has waited (its wake-up went out then).
    queued_since: tuple[Any, ...]
    queue: Any = None  # the column naming the row's own queue (runs), else the task's
    requeued: Callable[[datetime], dict[str, Any]] = lambda now: {}  # more values put back
    cancel: Cancel | None = None
    changed: Callable[[Session, int, Change], Followup] | None = None


@dataclass
class Held:
    """A write of the lease's holder (or a claim): `held` False when it was not (any more)
    theirs, and nothing was written."""

    held: bool
    followup: Followup = field(default_factory=Followup)


@dataclass
class Reaped:
    """One reaper pass over one kind of job."""

    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    resent: list[int] = field(default_factory=list)
    followup: Followup = field(default_factory=Followup, repr=False)

    def __bool__(self) -> bool:
        return bool(self.requeued or self.failed or self.cancelled or self.resent)


Then = Callable[[Session], Followup]  # the job's own writes, in the lease's transaction


# --- which rows ---


def _queued(lease: Lease, row_id: int) -> ColumnElement[bool]:
    m = lease.model
    flag = [lease.cancel.flag == false()] if lease.cancel else []
    return and_(m.id == row_id, m.state == lease.queued, m.worker_id.is_(None), *flag)


def _held(lease: Lease, row_id: int, owner: str) -> ColumnElement[bool]:
    m = lease.model
    return and_(m.id == row_id, m.state == lease.running, m.worker_id == owner)


def _rows(lease: Lease) -> Any:
    """id, attempts, queue and cancel flag of the rows a statement's where picks."""
    m = lease.model
    queue = lease.queue if lease.queue is not None else literal(lease.wake.queue)
    flag = lease.cancel.flag if lease.cancel else literal(False)
    return select(m.id, m.attempts, queue.label("queue"), flag.label("flagged"))


# --- the worker's side: each is its own transaction ---


def claim(lease: Lease, row_id: int, owner: str, *, values: dict[str, Any] | None = None) -> Held:
    """queued → running, held by `owner` (with `values`, the job's own columns); not held
    when the row is not queued (a duplicate wake-up, a row cancelled or finished meanwhile).
    A claim never clears a cancel flag."""
    now = utcnow()
    m = lease.model
    with get_db().transaction() as session:
        claimed = session.execute(
            update(m)
            .where(_queued(lease, row_id))
            .values(
                state=lease.running,
                worker_id=owner,
                heartbeat_at=now,
                attempts=m.attempts + 1,
                **(values or {}),
            )
        )
        if claimed.rowcount != 1:
            return Held(False)
        return Held(True, _changed(session, lease, row_id, Change(lease.running)))


def heartbeat(
    lease: Lease,
    row_id: int,
    owner: str,
    *,
    values: dict[str, Any] | None = None,
    then: Then | None = None,
) -> Held:
    """The holder is alive (with `values`: its progress), and `then` writes what it brought."""
    return _write(lease, row_id, owner, values or {}, then, None)


def finish(
    lease: Lease, row_id: int, owner: str, *, values: dict[str, Any], then: Then | None = None
) -> Held:
    """running → the end state in `values` (with the job's results)."""
    return _write(lease, row_id, owner, values, then, Change(values["state"]))


def fail(
    lease: Lease,
    row_id: int,
    owner: str,
    reason: FailureReason,
    message: str,
    *,
    then: Then | None = None,
) -> Held:
    """running → failed, for `reason`, saying `message`."""
    values = lease.failed(reason, message, utcnow())
    return _write(lease, row_id, owner, values, then, Change(values["state"], reason, message))


def put_back(
    lease: Lease,
    row_id: int,
    owner: str,
    *,
    values: dict[str, Any] | None = None,
    then: Then | None = None,
) -> Held:
    """The holder hands the row back (the service is stopping): queued again, keeping its
    place, to resume; cancelled instead when a cancel was asked meanwhile."""
    now = utcnow()
    with get_db().transaction() as session:
        row = session.execute(_rows(lease).where(_held(lease, row_id, owner))).one_or_none()
        if row is None:
            return Held(False)
        if row.flagged and lease.cancel:
            back, change = lease.cancel.values(now), Change(lease.cancel.state)
        else:
            back, change = _requeue_values(lease, now), Change(lease.queued)
        session.execute(
            update(lease.model)
            .where(_held(lease, row_id, owner))
            .values(**(values or {}), heartbeat_at=now, **back)
        )
        followup = then(session) if then else Followup()
        return Held(True, followup.extend(_moved(session, lease, row, change)))


def lose(
    lease: Lease,
    row_id: int,
    owner: str,
    *,
    cause: str,
    reason: FailureReason,
    max_attempts: int,
) -> Held:
    """The holder's process died without saying how its attempt ended (`cause`): the row
    goes back on the queue while attempts remain, then fails for `reason`; cancelled when
    a cancel was asked."""
    with get_db().transaction() as session:
        row = session.execute(
            _rows(lease).where(_held(lease, row_id, owner)).with_for_update()
        ).one_or_none()
        if row is None:
            return Held(False)
        guard = _held(lease, row_id, owner)
        ended = _end_attempt(session, lease, guard, row, cause, reason, max_attempts)
        return Held(ended is not None, ended or Followup())


def _write(
    lease: Lease,
    row_id: int,
    owner: str,
    values: dict[str, Any],
    then: Then | None,
    change: Change | None,
) -> Held:
    with get_db().transaction() as session:
        held = session.execute(
            update(lease.model)
            .where(_held(lease, row_id, owner))
            .values(heartbeat_at=utcnow(), **values)
        )
        if held.rowcount != 1:
            return Held(False)
        followup = then(session) if then else Followup()
        if change is not None:
            followup.extend(_changed(session, lease, row_id, change))
        return Held(True, followup)


# --- what becomes of a row whose attempt ended unsaid ---


def _requeue_values(lease: Lease, now: datetime) -> dict[str, Any]:
    """Back on the queue, held by nobody, its wake-up sent now."""
    return {"state": lease.queued, "worker_id": None, "woken_at": now, **lease.requeued(now)}


def _end_attempt(
    session: Session,
    lease: Lease,
    guard: ColumnElement[bool],
    row: Any,
    cause: str,
    reason: FailureReason,
    max_attempts: int,
) -> Followup | None:
    """Cancelled (asked), queued again (attempts remain) or failed; None when `guard` no
    longer holds (another reaper, or the process woke up)."""
    now = utcnow()
    note = f"attempt {row.attempts} ended: {cause}"
    if row.flagged and lease.cancel:
        values = lease.cancel.values(now)
        change = Change(lease.cancel.state, note=f"{note}; cancelled, as asked")
    elif row.attempts < max_attempts:
        values, change = _requeue_values(lease, now), Change(lease.queued, note=note)
    else:
        message = f"gave up after {row.attempts} attempts; the last: {cause}"
        values = lease.failed(reason, message, now)
        change = Change(values["state"], reason, message, note)
    if not session.execute(update(lease.model).where(guard).values(**values)).rowcount:
        return None
    return _moved(session, lease, row, change)


def _moved(session: Session, lease: Lease, row: Any, change: Change) -> Followup:
    """The followup of a row put back or ended: its wake-up when queued, and the hook's."""
    followup = Followup()
    if change.state == lease.queued:
        queue = row.queue if lease.queue is not None else None
        followup.enqueue(lease.wake, row.id, queue=queue)
    return followup.extend(_changed(session, lease, row.id, change))


def _changed(session: Session, lease: Lease, row_id: int, change: Change) -> Followup:
    return lease.changed(session, row_id, change) if lease.changed else Followup()


# --- the reaper's side ---


def reap(lease: Lease, *, stale_after_s: float, max_attempts: int) -> Reaped:
    """Rows whose holder's heartbeat went stale (the worker was killed, the machine
    rebooted): queued again until `max_attempts`, then failed as worker_lost; a run whose
    cancel was asked ends cancelled. And a queued row whose cancel was asked (it was put
    back as the cancel came) ends cancelled."""
    m = lease.model
    cutoff = utcnow() - timedelta(seconds=stale_after_s)
    out = Reaped()
    stale_rows = and_(m.state == lease.running, m.worker_id.is_not(None), m.heartbeat_at < cutoff)
    with get_db().transaction() as session:
        for row in session.execute(_rows(lease).where(stale_rows)).all():
            guard = and_(m.id == row.id, stale_rows)
            ended = _end_attempt(
                session, lease, guard, row, LOST_WORKER, FailureReason.WORKER_LOST, max_attempts
            )
            if ended is None:
                continue
            out.followup.extend(ended)
            state = session.scalar(select(m.state).where(m.id == row.id))
            if lease.cancel and state == lease.cancel.state:
                out.cancelled.append(row.id)
            elif state == lease.queued:
                out.requeued.append(row.id)
            else:
                out.failed.append(row.id)
        if lease.cancel:
            flagged = and_(m.state == lease.queued, m.worker_id.is_(None), lease.cancel.flag)
            for row in session.execute(_rows(lease).where(flagged)).all():
                values = lease.cancel.values(utcnow())
                guard = and_(m.id == row.id, flagged)
                if session.execute(update(m).where(guard).values(**values)).rowcount:
                    out.cancelled.append(row.id)
                    change = Change(lease.cancel.state)
                    out.followup.extend(_changed(session, lease, row.id, change))
    return out


def resend(lease: Lease, settings: Settings, *, after_s: float) -> list[int]:
    """Send again the wake-up of each row queued and not claimed within `after_s` of its
    last wake-up, unless that wake-up waits on its queue undelivered; stamp the time sent."""
    m = lease.model
    since = func.coalesce(m.woken_at, *lease.queued_since)
    cutoff = utcnow() - timedelta(seconds=after_s)
    flag = [lease.cancel.flag == false()] if lease.cancel else []
    with get_db().session() as session:
        unclaimed = and_(m.state == lease.queued, m.worker_id.is_(None), *flag)
        rows = session.execute(_rows(lease).where(unclaimed, since < cutoff)).all()
    waiting: dict[str, set[Any]] = {}
    sent: list[int] = []
    for row in rows:
        if row.queue not in waiting:
            waiting[row.queue] = pending_first_args(
                settings, queue=row.queue, task_name=lease.wake.name
            )
        if row.id in waiting[row.queue]:
            continue
        queues.send(lease.wake, row.id, queue=row.queue if lease.queue is not None else None)
        sent.append(row.id)
    if sent:
        woken(lease, sent)
    return sent


def woken(lease: Lease, row_ids: list[int]) -> None:
    """The wake-ups of these queued rows are on their way, or in a live worker's hands."""
    m = lease.model
    with get_db().transaction() as session:
        session.execute(
            update(m)
            .where(m.id.in_(row_ids), m.state == lease.queued, m.worker_id.is_(None))
            .values(woken_at=utcnow())
        )
