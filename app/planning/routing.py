"""What devices a run asks for, and which train queue holds it until a worker able to run it
takes it (Celery's own routing: a worker consumes only the queues its hardware can serve).

    train            runs that can run on a CPU (device cpu, or auto with no GPU asked for);
                     every train worker consumes it. A worker with a free GPU gives an
                     `auto` run one (as many as its processes), others get the CPU; a `cpu`
                     run never sees a GPU
    train.cuda.<N>   runs that need N GPUs; consumed by workers with at least N GPUs

A run asks with `gpus` (a count, or a list of CUDA indices on its host) and `processes` (DDP
ranks: one per GPU; on the CPU, that many gloo processes). The worker that takes it gives its
training child those GPUs only (CUDA_VISIBLE_DEVICES) and records where it runs.
"""

from __future__ import annotations

import re
from typing import Any

from app.store.errors import InvalidError
from worker.engine.config.train_config import TrainConfig
from worker.engine.errors import EngineError
from worker.engine.training.ranks import steps_per_rank

CPU_QUEUE = "train"
MAX_GPUS = 64  # per run: one host's GPUs (torchrun --standalone is one machine)
_CUDA_QUEUE = re.compile(r"^train\.cuda\.([1-9][0-9]*)$")


def cuda_queue(count: int) -> str:
    return f"train.cuda.{count}"


def is_train_queue(name: str) -> bool:
    return name == CPU_QUEUE or _CUDA_QUEUE.match(name) is not None


def train_queues_for(gpu_count: int) -> list[str]:
    """The train queues a worker with `gpu_count` GPUs consumes: every run it could hold."""
    return [CPU_QUEUE, *(cuda_queue(n) for n in range(1, gpu_count + 1))]


def device_request(
    *, gpus: int | list[int] | None, processes: int | None, device: str
) -> dict[str, Any] | None:
    """The checked request as stored in `runs.devices` (None: one process, as the config's
    device says); refusals name the field."""
    if gpus is None and processes in (None, 1):
        if device.startswith("cuda"):  # asked in the config: one GPU
            return {"kind": "cuda", "count": 1, "indices": None, "processes": 1}
        return None
    if processes is not None and not 1 <= processes <= MAX_GPUS:
        raise InvalidError(f"processes must be between 1 and {MAX_GPUS}", field="processes")
    if gpus is None:
        if device.startswith("cuda"):
            assert processes is not None
            gpus = processes
        else:
            if device == "mps":
                raise InvalidError("mps runs in one process", field="processes")
            # cpu: that many gloo processes; auto: as many GPUs if the host has them free
            kind = "cpu" if device == "cpu" else "auto"
            return {"kind": kind, "count": 0, "indices": None, "processes": processes}
    if device == "cpu" or device == "mps":
        raise InvalidError(f"gpus asks for CUDA GPUs, but device is {device}", field="gpus")
    if ":" in device:
        raise InvalidError(
            f"device {device!r} pins one GPU; with gpus, use device cuda or auto", field="device"
        )
    indices: list[int] | None = None
    if isinstance(gpus, list):
        if not gpus or len(set(gpus)) != len(gpus) or min(gpus) < 0:
            raise InvalidError("gpus must list distinct CUDA indices (0, 1, ...)", field="gpus")
        indices, count = sorted(gpus), len(gpus)
    else:
        count = gpus
    if not 1 <= count <= MAX_GPUS:
        raise InvalidError(f"gpus must be between 1 and {MAX_GPUS}", field="gpus")
    if processes is not None and processes != count:
        raise InvalidError(
            f"a run on {count} GPUs has one process per GPU; processes must be {count}",
            field="processes",
        )
    return {"kind": "cuda", "count": count, "indices": indices, "processes": count}


def processes_of(devices: dict[str, Any] | None) -> int:
    return int(devices["processes"]) if devices else 1


def queue_for(devices: dict[str, Any] | None) -> str:
    if devices and devices["kind"] == "cuda":
        return cuda_queue(int(devices["count"]))
    return CPU_QUEUE


def checked_devices(
    cfg: TrainConfig, *, gpus: int | list[int] | None, processes: int | None
) -> dict[str, Any] | None:
    """The devices asked for, and what several processes need of the config (nanoGPT's
    rule: gradient_accumulation_steps is the global count, split between the processes)."""
    devices = device_request(gpus=gpus, processes=processes, device=cfg.device)
    ranks = processes_of(devices)
    if ranks > 1:
        try:
            steps_per_rank(cfg.gradient_accumulation_steps, ranks)
        except EngineError as exc:
            raise InvalidError(exc.message, field=exc.field) from None
        if cfg.eval_only:
            raise InvalidError("eval_only evaluates on one process", field="eval_only")
    return devices
