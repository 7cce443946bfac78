"""The device a new run would train on, from what the train workers report (`/system`): for
the memory guard, the freest matching device of any train worker, and for the budget planner,
the slowest measured speed of one (`worker/jobs/speed_probe.py`), since any of them may take
the run; None when no train worker has reported one (nothing to compare with)."""

from __future__ import annotations

from typing import Any

from app.store.broker import BrokerError, read_workers
from app.store.errors import UnavailableError
from app.store.queues import TRAIN
from app.store.settings import Settings
from worker.engine.config.memory_guard import Device
from worker.engine.config.speed import Speed


def train_device(settings: Settings, device: str) -> Device | None:
    found = [d for d, _ in _train_devices(settings, device)]
    return max(found, key=lambda d: d.free_bytes, default=None)


def train_speed(settings: Settings, device: str) -> Speed | None:
    measured = [
        Speed(
            flops_per_s=float(speed["flops_per_s"]),
            overhead_s=float(speed["overhead_s"]),
            source=f"measured by a train worker on {found.name}",
        )
        for found, speed in _train_devices(settings, device)
        if isinstance(speed, dict) and speed.get("flops_per_s")
    ]
    return min(measured, key=lambda s: s.flops_per_s, default=None)


def _train_devices(settings: Settings, device: str) -> list[tuple[Device, Any]]:
    """What `device` is on each train worker, with the speed it reported (or None)."""
    try:
        workers = read_workers(settings)
    except (BrokerError, UnavailableError):
        return []  # the broker is away: the run is still accepted, unguarded
    return [
        found
        for w in workers
        if TRAIN.queue in w.get("queues", [])
        for found in [_matching(w.get("devices", []), device)]
        if found is not None
    ]


def _matching(devices: list[dict[str, Any]], wanted: str) -> tuple[Device, Any] | None:
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
        found = Device(kind=kind, name=str(d.get("name") or kind), free_bytes=int(d["memory_free"]))
        return found, d.get("speed")
    return None
