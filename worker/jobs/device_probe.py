"""What compute this machine offers, as plain data for /api/v1/system.

Run as `python -m worker.jobs.device_probe` (prints JSON) so the Celery main process never imports
torch or touches CUDA itself."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any


def _cpu_model() -> str | None:
    """The CPU's model name (`AMD EPYC …`), where /proc/cpuinfo says it."""
    try:
        with Path("/proc/cpuinfo").open(encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip() or None
    except OSError:
        pass
    return None


def _cpu() -> dict[str, Any]:
    total = free = None
    try:
        with Path("/proc/meminfo").open(encoding="ascii") as f:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f}
        total, free = info.get("MemTotal"), info.get("MemAvailable")
    except OSError:
        pass
    return {
        "kind": "cpu",
        "name": _cpu_model() or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_total": total,
        "memory_free": free,
    }


def detect() -> list[dict[str, Any]]:
    import torch

    devices = [_cpu()]
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(index)
            devices.append(
                {
                    "kind": "cuda",
                    "index": index,
                    "name": torch.cuda.get_device_name(index),
                    "memory_total": int(total),
                    "memory_free": int(free),
                }
            )
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append({"kind": "mps", "name": "Apple GPU", "memory_total": None})
    return devices


def probe(timeout_s: float = 120.0) -> list[dict[str, Any]]:
    """detect() in a child process; just the CPU when that fails."""
    try:
        out = subprocess.run(
            [sys.executable, "-m", "worker.jobs.device_probe"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=True,
        )
        return json.loads(out.stdout)
    except (subprocess.SubprocessError, json.JSONDecodeError, OSError):
        return [_cpu()]


if __name__ == "__main__":
    print(json.dumps(detect()))
