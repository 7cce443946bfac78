from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class MetricPoint(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="Row id; the SSE event id")
    iter: int
    train_loss: float | None = Field(description="Loss of this step's batch")
    val_loss: float | None = Field(description="Set on evaluated steps, in nats per token")
    eval_train_loss: float | None = Field(description="Evaluated train loss, on evaluated steps")
    val_bpc: float | None = Field(
        description="val_loss in bits per character of the val text (nats/token × "
        "tokens/char ÷ ln 2): comparable across tokenizers; null for data prepared before "
        "characters were counted per split"
    )
    lr: float | None
    tokens_per_sec: float | None
    mfu: float | None
    memory_bytes: int | None
    elapsed_s: float | None
    logged_at: datetime


class MetricHistory(BaseModel):
    run_id: int
    total: int = Field(description="Points stored")
    downsampled: bool
    points: list[MetricPoint]


class LogLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    line: str
    logged_at: datetime


class LogPage(BaseModel):
    items: list[LogLineOut] = Field(description="Oldest first")
    next_after: int | None = Field(
        description="Pass as ?after= for the lines after these; null when there are none yet"
    )
    next_before: int | None = Field(
        description="Pass as ?before= for the lines before these; null at the log's start"
    )


class CheckpointOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str = Field(description="ckpt.pt (latest) or best.pt")
    iter: int
    val_loss: float | None
    size_bytes: int
    created_at: datetime


CSV_COLUMNS = tuple(MetricPoint.model_fields)


def metrics_csv(points: Iterable[Mapping[str, Any]]) -> str:
    """Metric points as CSV: a header of MetricPoint's fields, one row a point, empty cells
    where a value was not measured (val_loss between evaluations)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for point in points:
        writer.writerow("" if point[c] is None else point[c] for c in CSV_COLUMNS)
    return out.getvalue()
