"""How fast this machine's training device is, for the budget planner (`/system`'s devices).

A train worker measures its device once (`worker.engine.training.calibration.measure_speed`:
two small shapes, a few steps each) in a child process, as the device probe does, so the
Celery main process never imports torch; the figure is kept in the data directory, keyed by
the device's name, torch's version and the cores this process may use, so a restarted worker
reports it at once. The API plans a budget run with the slowest figure its train workers
report (any of them may take the run), and with the engine's cached figure for the kind while
none has.

Run as `python -m worker.jobs.speed_probe KIND` (prints the Speed as JSON)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
CACHE_FILE = "device_speed.json"


def measured_kind(devices: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The device a run with device=auto trains on here: the first GPU, else the CPU."""
    for kind in ("cuda", "mps", "cpu"):
        found = [d for d in devices if d.get("kind") == kind]
        if found:
            return found[0]
    return None


def _key(device: dict[str, Any]) -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{device.get('kind')}|{device.get('name')}|{_torch_version()}|{cores} cores"


def _torch_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch")
    except PackageNotFoundError:
        return "?"


def with_speed(
    devices: list[dict[str, Any]], cache_dir: Path, timeout_s: float = 300.0
) -> list[dict[str, Any]]:
    """`devices` with `speed` ({"flops_per_s", "overhead_s"}) on the one a run trains on:
    from the cache, else measured now (seconds of work: call it off the worker's hot path).
    Unchanged when the measurement fails (the planner then uses its cached figure)."""
    device = measured_kind(devices)
    if device is None:
        return devices
    cache = cache_dir / CACHE_FILE
    key = _key(device)
    try:
        known = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    speed = known.get(key) if isinstance(known, dict) else None
    if not isinstance(speed, dict):
        speed = _measure(str(device["kind"]), timeout_s)
        if speed is None:
            return devices
        known = {**(known if isinstance(known, dict) else {}), key: speed}
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            partial = cache.with_suffix(".part")
            partial.write_text(json.dumps(known, indent=1), encoding="utf-8")
            partial.replace(cache)
        except OSError as exc:
            log.warning("device speed not cached: %s", exc)
    return [{**d, "speed": speed} if d is device else d for d in devices]


def _measure(kind: str, timeout_s: float) -> dict[str, float] | None:
    try:
        out = subprocess.run(
            [sys.executable, "-m", "worker.jobs.speed_probe", kind],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=True,
        )
        speed = json.loads(out.stdout)
        return {
            "flops_per_s": float(speed["flops_per_s"]),
            "overhead_s": float(speed["overhead_s"]),
        }
    except (subprocess.SubprocessError, ValueError, KeyError, TypeError, OSError) as exc:
        log.warning("device speed not measured: %s", exc)
        return None


def main(kind: str) -> None:
    from worker.engine.wait_policy import choose_wait_policy

    choose_wait_policy()  # as a training process does, before torch loads
    from worker.engine.training.calibration import measure_speed

    speed = measure_speed(kind)
    print(json.dumps({"flops_per_s": speed.flops_per_s, "overhead_s": speed.overhead_s}))


if __name__ == "__main__":
    main(sys.argv[1])
