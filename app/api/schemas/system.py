from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: bool
    broker: bool
    workers: int = Field(description="Workers that reported in the last minute")
    reason: str | None = Field(
        description="Why a part is down: the database, or the broker not answering or refusing "
        "writes (MISCONF: the disk where it keeps its data is full); null when both are up"
    )


class OccupyingRun(BaseModel):
    id: int
    name: str
    devices: list[str] = Field(description="cuda:<host index> ..., or cpu")
    processes: int


class WorkerOut(BaseModel):
    name: str
    queues: list[str]
    pid: int | None
    devices: list[dict[str, Any]] = Field(
        description="{kind: cpu|cuda|mps, name, memory_total, memory_free, index (cuda), "
        "runs: the ids of the running runs that occupy it}"
    )
    runs: list[OccupyingRun] = Field(description="Running runs this worker holds")
    started_at: float | None
    seen_at: float | None


class QueuedRun(BaseModel):
    id: int
    name: str
    position: int = Field(description="1 = next to start on its queue")


class SystemOut(BaseModel):
    workers: list[WorkerOut]
    queues: dict[str, int] = Field(description="Messages waiting per queue")
    queued_runs: list[QueuedRun]
    broker_problem: str | None = Field(
        description="Why the broker answers but cannot take jobs (MISCONF: the disk where it "
        "keeps its data is full; READONLY; OOM): runs wait until it can; null when it can"
    )
