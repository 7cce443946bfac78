"""One verdict on a run's config, the same for every client (the API, its dry run, the form
through the dry run, and `nanogpt-studio train --dry-run`): every error at once, the memory
guard's included, and the warnings that let it start but are probably not meant."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from worker.engine.config.memory_guard import Device, MemoryCheck, check_memory
from worker.engine.config.preflight import find_problems
from worker.engine.config.train_config import INT_MAXIMA, TrainConfig
from worker.engine.config.warnings import ConfigWarning, schedule_warnings
from worker.engine.errors import EngineError
from worker.engine.model.archs import ARCH_CHOICES

# What the memory estimate is made from: with one of these out of range, there is no size.
SIZE_KNOBS = ("batch_size", "block_size", "n_layer", "n_head", "n_embd")


@dataclass(frozen=True)
class Verdict:
    errors: list[EngineError]  # the run cannot start: every one found
    warnings: list[ConfigWarning]  # it can, but probably not as meant (none beside errors)
    memory: MemoryCheck | None  # None: the config has no size yet (see has_size)


def has_size(cfg: TrainConfig, errors: list[EngineError]) -> bool:
    """A model can be sized: its shape in range, a known arch and readable weights. Other
    errors (a block_size longer than the data, a width heads do not divide) leave its size
    meaningful, so the memory guard's verdict comes with theirs."""
    in_range = all(1 <= getattr(cfg, name) <= INT_MAXIMA[name] for name in SIZE_KNOBS)
    return in_range and cfg.arch in ARCH_CHOICES and all(e.field != "init_from" for e in errors)


def judge(
    cfg: TrainConfig,
    meta: Mapping[str, Any] | None,
    *,
    vocab_size: int,
    device: Device | None,
) -> Verdict:
    """Preflight's problems, then the memory guard's (against `device`; None: unguarded).
    Warnings come only with a run that can start: the errors are what to fix first, and every
    client (a 422 has no room for warnings) says the same."""
    errors = find_problems(cfg, meta)
    memory = check_memory(cfg, vocab_size, device) if has_size(cfg, errors) else None
    if memory is not None:
        errors = [*errors, *memory.errors]
    warnings = [] if errors else [*schedule_warnings(cfg), *(memory.warnings if memory else [])]
    return Verdict(errors=errors, warnings=warnings, memory=memory)
