"""A run's history: metric points, log lines and checkpoint rows. The training process
writes them in batches (`write_batch`, inside the transaction of its heartbeat,
`app.store.run_lease.heartbeat`); the API reads them back as the events of `app.store.event_wire`:
points (optionally downsampled), and log lines forward from an id or backward from the end
or an id."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, insert, select
from sqlalchemy.orm import Session

from app.store.db import get_db
from app.store.errors import InvalidError
from app.store.event_wire import METRIC_FIELDS, Event, RunEvent, log_line, metric_point
from app.store.followup import Followup
from app.store.models import Checkpoint, LogLine, Metric
from app.store.run_queries import get_run
from worker.engine.events import CheckpointEvent, StepEvent

_METRICS = [Metric.__table__.c[name] for name in METRIC_FIELDS]
_LOGS = (LogLine.id, LogLine.line, LogLine.logged_at)


@dataclass
class Batch:
    """Rows a training process buffered since its last write: column values, no ids yet."""

    metrics: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.metrics or self.logs or self.checkpoints)

    def extend(self, other: Batch) -> None:
        self.metrics += other.metrics
        self.logs += other.logs
        self.checkpoints += other.checkpoints


def metric_row(step: StepEvent, logged_at: datetime) -> dict[str, Any]:
    """The metrics row of one step event: the step's figures and, if evaluated, its losses."""
    return {
        "iter": step.iter,
        "train_loss": step.loss,
        "val_loss": step.val_loss,
        "eval_train_loss": step.eval_train_loss,
        "val_bpc": step.val_bpc,
        "lr": step.lr,
        "tokens_per_sec": step.tokens_per_sec,
        "mfu": step.mfu,
        "memory_bytes": step.memory_bytes,
        "elapsed_s": step.elapsed_s,
        "logged_at": logged_at,
    }


def log_row(line: str, logged_at: datetime) -> dict[str, Any]:
    return {"line": line, "logged_at": logged_at}


def checkpoint_row(event: CheckpointEvent, created_at: datetime) -> dict[str, Any]:
    return {
        "name": event.path.name,
        "iter": event.iter,
        "val_loss": event.val_loss,
        "size_bytes": event.size_bytes,
        "created_at": created_at,
    }


@dataclass
class Chain:
    """The id of the last metric and log row a writer published for its run. Each event
    carries the id before it (`RunEvent.prev`), so a follower that sees a `prev` other than
    the last id it has knows it missed something and reads the database instead."""

    metric: int | None = None
    log: int | None = None


def write_batch(
    session: Session, *, run_id: int, batch: Batch, chain: Chain | None = None
) -> Followup:
    """Insert the rows; the followup publishes each as its event, once committed. `chain`
    (advanced here) links each event to the one before it."""
    followup = Followup()
    chain = chain if chain is not None else Chain()
    if batch.metrics:
        # A later point replaces an earlier one of the same iteration.
        latest = {m["iter"]: m for m in batch.metrics}
        session.execute(
            delete(Metric).where(Metric.run_id == run_id, Metric.iter.in_(list(latest)))
        )
        rows = [{**m, "run_id": run_id} for m in latest.values()]
        ids = session.scalars(
            insert(Metric).returning(Metric.id, sort_by_parameter_order=True), rows
        ).all()
        for row, row_id in zip(rows, ids, strict=True):
            point = metric_point({**row, "id": row_id})
            followup.publish(run_id, RunEvent("metric", point, row_id, prev=chain.metric))
            chain.metric = row_id
    if batch.logs:
        rows = [{**entry, "run_id": run_id} for entry in batch.logs]
        ids = session.scalars(
            insert(LogLine).returning(LogLine.id, sort_by_parameter_order=True), rows
        ).all()
        for row, row_id in zip(rows, ids, strict=True):
            line = log_line({**row, "id": row_id})
            followup.publish(run_id, RunEvent("log", line, row_id, prev=chain.log))
            chain.log = row_id
    for ckpt in batch.checkpoints:  # one row per file name, rewritten with the file
        session.execute(
            delete(Checkpoint).where(Checkpoint.run_id == run_id, Checkpoint.name == ckpt["name"])
        )
        session.execute(insert(Checkpoint).values(run_id=run_id, **ckpt))
    return followup


def forget_after(*, run_id: int, iter_num: int) -> None:
    """A resume from an older checkpoint redoes the steps after it: their points go."""
    with get_db().transaction() as session:
        session.execute(delete(Metric).where(Metric.run_id == run_id, Metric.iter > iter_num))


def metric_points_after(session: Session, *, run_id: int, after_id: int, limit: int) -> list[Event]:
    query = (
        select(*_METRICS)
        .where(Metric.run_id == run_id, Metric.id > after_id)
        .order_by(Metric.id)
        .limit(limit)
    )
    return [metric_point(row._mapping) for row in session.execute(query)]


def metric_history(session: Session, *, run_id: int, points: int | None) -> tuple[list[Event], int]:
    """All points by iteration, or about `points` of them: first, last and every evaluation
    kept, the rest thinned to each bucket's lowest and highest train loss (spikes survive)."""
    get_run(session, run_id=run_id)
    query = select(*_METRICS).where(Metric.run_id == run_id).order_by(Metric.iter)
    rows = [metric_point(row._mapping) for row in session.execute(query)]
    total = len(rows)
    if points is None or total <= points:
        return rows, total
    return downsample(rows, points), total


def downsample(rows: list[Event], points: int) -> list[Event]:
    keep = {0, len(rows) - 1}
    evals = [i for i, r in enumerate(rows) if r["val_loss"] is not None]
    if len(evals) + 2 >= points:
        step = len(evals) / max(1, points - 2)
        keep.update(evals[int(k * step)] for k in range(max(0, points - 2)))
        return [rows[i] for i in sorted(keep)]
    keep.update(evals)
    rest = [i for i in range(1, len(rows) - 1) if i not in keep]
    buckets = max(1, (points - len(keep)) // 2)
    size = len(rest) / buckets
    for b in range(buckets):
        chunk = rest[int(b * size) : int((b + 1) * size)]
        scored = [i for i in chunk if rows[i]["train_loss"] is not None]
        if scored:
            keep.add(min(scored, key=lambda i: rows[i]["train_loss"]))
            keep.add(max(scored, key=lambda i: rows[i]["train_loss"]))
    return [rows[i] for i in sorted(keep)]


def log_lines_after(session: Session, *, run_id: int, after_id: int, limit: int) -> list[Event]:
    query = (
        select(*_LOGS)
        .where(LogLine.run_id == run_id, LogLine.id > after_id)
        .order_by(LogLine.id)
        .limit(limit)
    )
    return [log_line(row._mapping) for row in session.execute(query)]


def log_lines_before(
    session: Session, *, run_id: int, before_id: int | None, limit: int
) -> list[Event]:
    """The `limit` lines just before line `before_id` (the newest, without it), oldest first."""
    query = select(*_LOGS).where(LogLine.run_id == run_id)
    if before_id is not None:
        query = query.where(LogLine.id < before_id)
    newest_first = session.execute(query.order_by(LogLine.id.desc()).limit(limit))
    rows = [log_line(row._mapping) for row in newest_first]
    rows.reverse()
    return rows


def log_page(
    session: Session,
    *,
    run_id: int,
    after_id: int | None,
    before_id: int | None,
    tail: int | None,
    limit: int,
) -> tuple[list[Event], bool, bool]:
    """(lines oldest first, more before them, more after them). Forward from `after_id`
    (`limit` lines), or backward: the last `tail` lines, or the `tail` (else `limit`) lines
    before `before_id`."""
    get_run(session, run_id=run_id)
    if after_id is not None and (before_id is not None or tail is not None):
        raise InvalidError("after cannot be combined with before or tail", field="after")
    if before_id is None and tail is None:
        rows = log_lines_after(session, run_id=run_id, after_id=after_id or 0, limit=limit + 1)
        more_after = len(rows) > limit
        rows = rows[:limit]
        more_before = bool(rows) and _has_lines(session, run_id, LogLine.id < rows[0]["id"])
        return rows, more_before, more_after
    count = tail or limit
    rows = log_lines_before(session, run_id=run_id, before_id=before_id, limit=count + 1)
    more_before = len(rows) > count
    rows = rows[-count:]
    more_after = bool(rows) and _has_lines(session, run_id, LogLine.id > rows[-1]["id"])
    return rows, more_before, more_after


def _has_lines(session: Session, run_id: int, where: ColumnElement[bool]) -> bool:
    query = select(LogLine.id).where(LogLine.run_id == run_id, where).limit(1)
    return session.scalar(query) is not None


def list_checkpoints(session: Session, *, run_id: int) -> list[Checkpoint]:
    get_run(session, run_id=run_id)
    query = select(Checkpoint).where(Checkpoint.run_id == run_id).order_by(Checkpoint.name)
    return list(session.scalars(query))
