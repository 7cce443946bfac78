"""The device a new run would train on, from what the train workers report (`/system`): for
the memory guard. The freest matching device of any train worker, since any of them may take
the run; None when no train worker has reported one (nothing to compare with)."""

from __future__ import annotations

from typing import Any

from app.store.broker import BrokerError, read_workers
from app.store.errors import UnavailableError
from app.store.queues import TRAIN
from app.store.settings import Settings
from worker.engine.config.memory_guard import Device


def train_device(settings: Settings, device: str) -> Device | None:
    try:
        workers = read_workers(settings)
    except (BrokerError, UnavailableError):
        return None  # the broker is away: the run is still accepted, unguarded
    found = [
        d
        for w in workers
        if TRAIN.queue in w.get("queues", [])
        for d in [_matching(w.get("devices", []), device)]
        if d is not None
    ]
    return max(found, key=lambda d: d.free_bytes, default=None)


def _matching(devices: list[dict[str, Any]], wanted: str) -> Device | None:
    """What `device` (auto, cpu, cuda, cuda:N, mps) resolves to on a worker with `devices`,
    as the engine resolves it there (auto: the first GPU, else the CPU)."""
    kind, _, index = wanted.partition(":")
    by_kind = [d for d in devices if d.get("memory_free") is not None]
    if kind == "auto":
        gpus = [d for d in by_kind if d.get("kind") == "cuda"]
        kind, index = ("cuda", "0") if gpus else ("cpu", "")
    for d in by_kind:
        if d.get("kind") != kind:
            continue
        if kind == "cuda" and int(d.get("index", 0)) != int(index or 0):
            continue
        return Device(kind=kind, name=str(d.get("name") or kind), free_bytes=int(d["memory_free"]))
    return None
