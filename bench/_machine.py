"""What a benchmark says about the machine it ran on, and what a process measures of itself:
figures differ between the machines here (vector widths, bf16), so every script prints them."""

from __future__ import annotations

import os
import platform
import resource
from contextlib import suppress
from pathlib import Path

# The CPU flags that change the figures between machines here.
SHOWN_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "sha_ni")


def cpu_model() -> str:
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_flags() -> str:
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                return " ".join(f for f in SHOWN_FLAGS if f in flags) or "none of " + "/".join(
                    SHOWN_FLAGS
                )
    return "unknown"


def machine() -> str:
    return f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def vm_kib(field: str, pid: int | str = "self") -> int:
    """A memory figure (VmRSS, VmHWM …) of a process from /proc/<pid>/status, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def cpu_seconds() -> float:
    """User and system time of this process, all its threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
