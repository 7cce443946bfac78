"""Which of this host's GPUs a training child gets: each GPU is held by one run at a time
(or `STUDIO_RUNS_PER_GPU` runs, when asked) through a lock file per GPU slot on this host.

A lock is `flock`ed by the train task's pool process for as long as its training child runs;
the kernel drops it when that process ends however it ends, so a crashed worker never leaves
a GPU marked busy. The files live on local disk (never the shared data directory: flock over
a network file system is not to be trusted), one folder per deployment and user.

The child sees only its GPUs (CUDA_VISIBLE_DEVICES, in the host's numbering even when the
worker itself was started with a CUDA_VISIBLE_DEVICES of its own); a CPU run sees none.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

# Set by `nanogpt-studio worker` from its probe, so its pool processes need not probe again.
GPUS_ENV = "STUDIO_WORKER_GPUS"


@functools.cache
def host_gpus() -> tuple[int, ...]:
    """This host's CUDA GPUs as the worker sees them (probed once per process)."""
    known = os.environ.get(GPUS_ENV)
    if known is not None:
        return tuple(int(i) for i in known.split(",") if i.strip())
    from worker.jobs.device_probe import probe

    gpus = tuple(d["index"] for d in probe() if d.get("kind") == "cuda")
    os.environ[GPUS_ENV] = ",".join(map(str, gpus))
    return gpus


def physical_index(index: int) -> str:
    """The GPU's name in CUDA_VISIBLE_DEVICES: through the worker's own list when it has one."""
    own = os.environ.get("CUDA_VISIBLE_DEVICES")
    if own:
        names = [name.strip() for name in own.split(",") if name.strip()]
        if index < len(names):
            return names[index]
    return str(index)


def lock_dir(deployment: str) -> Path:
    folder = Path(tempfile.gettempdir()) / f"nanogpt-studio-{os.getuid()}" / deployment / "gpus"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Placement:
    """Where a run's attempt runs; holds its GPUs until closed."""

    host: str
    worker: str
    gpus: list[int]  # indices as this worker sees them
    processes: int
    _locks: list[IO[bytes]] = field(default_factory=list, repr=False)

    @property
    def env(self) -> dict[str, str]:
        """What the training child's environment gets: its GPUs, and no others."""
        return {"CUDA_VISIBLE_DEVICES": ",".join(physical_index(i) for i in self.gpus)}

    def record(self) -> dict[str, Any]:
        """As stored in `runs.placement` and shown by the API."""
        devices = [f"cuda:{physical_index(i)}" for i in self.gpus] or ["cpu"]
        return {
            "host": self.host,
            "worker": self.worker,
            "devices": devices,
            "gpus": list(self.gpus),  # as the worker numbers them (its /system devices)
            "processes": self.processes,
        }

    def close(self) -> None:
        for lock in self._locks:
            with contextlib.suppress(OSError):
                lock.close()  # closing the file drops its flock
        self._locks.clear()


def _try_lock(path: Path, run_id: int) -> IO[bytes] | None:
    handle = path.open("a+b")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.truncate(0)
    handle.write(str(run_id).encode())  # who holds it, for someone looking at the folder
    handle.flush()
    return handle


def reserve(
    *,
    run_id: int,
    devices: dict[str, Any] | None,
    worker: str,
    deployment: str,
    gpus_here: tuple[int, ...],
    runs_per_gpu: int = 1,
) -> Placement | None:
    """The GPUs the run needs, locked for it; None when this host cannot give them now.

    `devices` is the run's request (`app.planning.routing.device_request`): None or `auto`
    take GPUs when the host has them free (one a process) and the CPU otherwise; `cpu` takes
    none; `cuda` takes `count` GPUs (the listed `indices`, when listed) or waits.
    """
    kind = devices["kind"] if devices else "auto"
    processes = int(devices["processes"]) if devices else 1
    host = socket.gethostname()
    if kind == "cpu" or (kind == "auto" and not gpus_here):
        return Placement(host=host, worker=worker, gpus=[], processes=processes)
    wanted = processes if kind == "auto" else int(devices["count"]) if devices else 1
    indices = devices.get("indices") if devices else None
    candidates = list(indices) if indices else list(gpus_here)
    if indices and not set(indices) <= set(gpus_here):
        return None  # another host's numbering: not here
    folder = lock_dir(deployment)
    held: list[IO[bytes]] = []
    chosen: list[int] = []
    for index in candidates:
        if len(chosen) == wanted:
            break
        for slot in range(runs_per_gpu):
            lock = _try_lock(folder / f"cuda{physical_index(index)}.slot{slot}.lock", run_id)
            if lock is not None:
                held.append(lock)
                chosen.append(index)
                break
    placement = Placement(host=host, worker=worker, gpus=chosen, processes=processes)
    placement._locks = held
    if len(chosen) < wanted:
        placement.close()
        if kind == "auto":  # no GPU free: an auto run takes the CPU rather than wait
            return Placement(host=host, worker=worker, gpus=[], processes=processes)
        return None
    return placement
