"""A run's events on the wire, one serializer each. A metric point, a log line and a state
change are shaped here and nowhere else, so the REST history, the SSE replay from the database
and the live publish from the training process say the same thing in the same bytes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from app.store.models import Run

EventKind = Literal["metric", "log", "state"]
Event = dict[str, Any]  # JSON-ready

METRIC_FIELDS = (
    "id",
    "iter",
    "train_loss",
    "val_loss",
    "eval_train_loss",
    "val_bpc",
    "lr",
    "tokens_per_sec",
    "mfu",
    "memory_bytes",
    "elapsed_s",
    "logged_at",
)


def utc_text(value: datetime) -> str:
    """ISO 8601 in UTC ending in Z (as pydantic writes a datetime): one format everywhere."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def metric_point(row: Mapping[str, Any]) -> Event:
    """A metrics row (with its id) as the API shows it: `MetricPoint`."""
    point = {name: row[name] for name in METRIC_FIELDS}
    point["logged_at"] = utc_text(row["logged_at"])
    return point


def log_line(row: Mapping[str, Any]) -> Event:
    """A log_lines row (with its id) as the API shows it: `LogLineOut`."""
    return {"id": row["id"], "line": row["line"], "logged_at": utc_text(row["logged_at"])}


def run_state(run: Run) -> Event:
    """Where a run stands: the data of a `state` event, and of the SSE `done` event."""
    return {
        "state": run.state,
        "failure_reason": run.failure_reason,
        "failure_message": run.failure_message,
        "iter": run.iter,
    }


def encode(data: Any) -> str:
    """The one JSON encoding of events: on the channel and in SSE `data:` lines."""
    return json.dumps(data, separators=(",", ":"))


@dataclass(frozen=True)
class RunEvent:
    """What is published on a run's channel (`app.store.broker.run_channel`)."""

    kind: EventKind
    data: Event
    id: int | None = None  # the row id of a metric or log event: the SSE event id
    prev: int | None = None  # the id of the run's event of this kind before it, if known

    def message(self) -> str:
        return encode({"type": self.kind, "id": self.id, "prev": self.prev, "data": self.data})

    @classmethod
    def from_message(cls, raw: str | bytes) -> RunEvent:
        message = json.loads(raw)
        return cls(
            kind=message["type"],
            data=message["data"],
            id=message.get("id"),
            prev=message.get("prev"),
        )
