"""Whether the kernel's out-of-memory killer struck: its count of OOM kills in this process's
memory cgroup, read before a training process starts and after it dies. cgroup v2 keeps it in
`memory.events`, v1 in `memory.oom_control` (both as `oom_kill N`); None where neither can be
read, and then a SIGKILL says nothing about its cause."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

WHAT_TO_LOWER = (
    "lower batch_size or block_size (raise gradient_accumulation_steps to keep the tokens per "
    "iteration), or the model's size"
)
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def tried(config: Mapping[str, Any]) -> str:
    """The size that did not fit, as an out-of-memory message says it."""
    return (
        f"{config.get('n_layer')} layers × {config.get('n_embd')} dims, batch_size "
        f"{config.get('batch_size')} × block_size {config.get('block_size')}"
    )


def _candidates(root: Path, proc_cgroup: Path) -> list[Path]:
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    found = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        relative = path.lstrip("/")
        if controllers == "":  # v2: one unified hierarchy
            found += [root / relative / "memory.events", root / "memory.events"]
        elif "memory" in controllers.split(","):  # v1
            found += [
                root / "memory" / relative / "memory.oom_control",
                root / "memory" / "memory.oom_control",
            ]
    return found


def oom_kills(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> int | None:
    for path in _candidates(root, proc_cgroup):
        try:
            text = path.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill" and value.strip().isdigit():
                return int(value)
    return None
