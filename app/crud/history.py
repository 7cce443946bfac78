"""A run's history: metric points (optionally downsampled), log lines (forward from an id,
or backward from the end or an id) and checkpoints."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from app.core.errors import InvalidError
from app.core.models import Checkpoint, LogLine, Metric
from app.crud.runs import get_run

METRIC_COLUMNS = [c.name for c in Metric.__table__.columns if c.name != "run_id"]


def metric_rows_after(
    session: Session, *, run_id: int, after_id: int, limit: int
) -> list[dict[str, Any]]:
    table = Metric.__table__
    query = (
        select(*[table.c[name] for name in METRIC_COLUMNS])
        .where(table.c.run_id == run_id, table.c.id > after_id)
        .order_by(table.c.id)
        .limit(limit)
    )
    return [dict(row._mapping) for row in session.execute(query)]


def metric_history(
    session: Session, *, run_id: int, points: int | None
) -> tuple[list[dict[str, Any]], int]:
    """All points by iteration, or about `points` of them: first, last and every evaluation
    kept, the rest thinned to each bucket's lowest and highest train loss (spikes survive)."""
    get_run(session, run_id=run_id)
    table = Metric.__table__
    query = (
        select(*[table.c[name] for name in METRIC_COLUMNS])
        .where(table.c.run_id == run_id)
        .order_by(table.c.iter)
    )
    rows = [dict(row._mapping) for row in session.execute(query)]
    total = len(rows)
    if points is None or total <= points:
        return rows, total
    return downsample(rows, points), total


def downsample(rows: list[dict[str, Any]], points: int) -> list[dict[str, Any]]:
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


def log_lines_after(session: Session, *, run_id: int, after_id: int, limit: int) -> list[LogLine]:
    query = (
        select(LogLine)
        .where(LogLine.run_id == run_id, LogLine.id > after_id)
        .order_by(LogLine.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def log_lines_before(
    session: Session, *, run_id: int, before_id: int | None, limit: int
) -> list[LogLine]:
    """The `limit` lines just before line `before_id` (the newest, without it), oldest first."""
    query = select(LogLine).where(LogLine.run_id == run_id)
    if before_id is not None:
        query = query.where(LogLine.id < before_id)
    rows = list(session.scalars(query.order_by(LogLine.id.desc()).limit(limit)))
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
) -> tuple[list[LogLine], bool, bool]:
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
        more_before = bool(rows) and _has_lines(session, run_id, LogLine.id < rows[0].id)
        return rows, more_before, more_after
    count = tail or limit
    rows = log_lines_before(session, run_id=run_id, before_id=before_id, limit=count + 1)
    more_before = len(rows) > count
    rows = rows[-count:]
    more_after = bool(rows) and _has_lines(session, run_id, LogLine.id > rows[-1].id)
    return rows, more_before, more_after


def _has_lines(session: Session, run_id: int, where: ColumnElement[bool]) -> bool:
    query = select(LogLine.id).where(LogLine.run_id == run_id, where).limit(1)
    return session.scalar(query) is not None


def count_metrics(session: Session, *, run_id: int) -> int:
    query = select(func.count()).select_from(Metric).where(Metric.run_id == run_id)
    return session.scalar(query) or 0


def list_checkpoints(session: Session, *, run_id: int) -> list[Checkpoint]:
    get_run(session, run_id=run_id)
    query = select(Checkpoint).where(Checkpoint.run_id == run_id).order_by(Checkpoint.name)
    return list(session.scalars(query))
