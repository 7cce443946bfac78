"""The memory guard: a run's estimated peak (memory_estimate.py) against the free memory of
the device it would run on. Over it, the run is refused naming the knob to change and a value
that fits; close to it (above WARN_SHARE of it), a warning the user may accept."""

from __future__ import annotations

from dataclasses import dataclass

from worker.engine.config.memory_estimate import (
    GPT2_SHAPES,
    MemoryEstimate,
    estimate_memory,
    largest_batch_that_fits,
    largest_depth_that_fits,
)
from worker.engine.config.train_config import TrainConfig
from worker.engine.config.warnings import ConfigWarning
from worker.engine.errors import ConfigError

# Above this share of the free memory a run is "close": other processes, the allocator's
# fragmentation and the estimate's error (docs/benchmarks.md) can push it over.
WARN_SHARE = 0.8


@dataclass(frozen=True)
class Device:
    """Where a run would train, as a worker reports it (/system)."""

    kind: str  # cpu, cuda, mps
    name: str
    free_bytes: int


@dataclass(frozen=True)
class MemoryCheck:
    estimate: MemoryEstimate
    device: Device | None
    errors: list[ConfigError]
    warnings: list[ConfigWarning]


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def check_memory(cfg: TrainConfig, vocab_size: int, device: Device | None) -> MemoryCheck:
    kind = device.kind if device else _kind_of(cfg.device)
    estimate = estimate_memory(cfg, vocab_size, kind)
    if device is None:
        return MemoryCheck(estimate, None, [], [])
    need, free = estimate.total_bytes, device.free_bytes
    where = f"{device.name} ({device.kind}) has {_gib(free)} free"
    if need > free:
        return MemoryCheck(estimate, device, [_refusal(cfg, vocab_size, device, need)], [])
    if need > WARN_SHARE * free:
        warning = ConfigWarning(
            "memory",
            "batch_size",
            f"this run needs about {_gib(need)} and {where}: close to the limit, it may run "
            "out of memory; a smaller batch_size leaves room",
        )
        return MemoryCheck(estimate, device, [], [warning])
    return MemoryCheck(estimate, device, [], [])


def _refusal(cfg: TrainConfig, vocab_size: int, device: Device, need: int) -> ConfigError:
    """Which knob to lower, and to what: a value whose estimate is under WARN_SHARE, so the
    suggestion is itself accepted without a warning."""
    budget = int(WARN_SHARE * device.free_bytes)
    head = (
        f"this run needs about {_gib(need)} of memory but {device.name} ({device.kind}) has "
        f"{_gib(device.free_bytes)} free"
    )
    batch = largest_batch_that_fits(cfg, vocab_size, device.kind, budget)
    if batch >= 1:
        accumulation = cfg.gradient_accumulation_steps * cfg.batch_size / batch
        keep = (
            f" (and gradient_accumulation_steps {int(accumulation)} keeps the tokens per iteration)"
            if accumulation.is_integer() and accumulation <= 65_536
            else ""
        )
        return ConfigError(f"{head}; batch_size {batch} fits{keep}", field="batch_size")
    if cfg.init_from in GPT2_SHAPES:
        return ConfigError(
            f"{head}, even at batch_size 1: {cfg.init_from}'s weights and optimizer state alone "
            "do not fit; fine-tune a smaller GPT-2",
            field="init_from",
        )
    depth = largest_depth_that_fits(cfg, vocab_size, device.kind, budget)
    if depth >= 1:
        return ConfigError(
            f"{head}, even at batch_size 1; n_layer {depth} fits with batch_size 1",
            field="n_layer",
        )
    return ConfigError(
        f"{head}, even at batch_size 1 with one layer; lower n_embd (the width) or block_size",
        field="n_embd",
    )


def _kind_of(device: str) -> str:
    kind = device.split(":")[0]
    return kind if kind in ("cpu", "cuda", "mps") else "cpu"
