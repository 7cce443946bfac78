"""A process's place in a multi-process (DDP) run, read from what torchrun sets; no torch
here, so the service can check a run's processes before it is queued."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from worker.engine.errors import ConfigError


@dataclass(frozen=True)
class Ranks:
    """Where this process sits among the run's processes."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_master(self) -> bool:
        """Rank 0 alone evaluates, reports, heartbeats and writes checkpoints."""
        return self.rank == 0

    @property
    def several(self) -> bool:
        return self.world_size > 1


def from_env(environ: Mapping[str, str] | None = None) -> Ranks:
    """The ranks torchrun set in the environment; one process when it set none."""
    env = os.environ if environ is None else environ
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return Ranks()
    ranks = Ranks(
        rank=int(env["RANK"]),
        local_rank=int(env.get("LOCAL_RANK", env["RANK"])),
        world_size=int(env["WORLD_SIZE"]),
    )
    assert 0 <= ranks.rank < ranks.world_size, ranks
    return ranks


def steps_per_rank(gradient_accumulation_steps: int, world_size: int) -> int:
    """nanoGPT's rule: the config's count is the global one, split evenly between the ranks,
    so N ranks see the same batch per optimizer step as one process does."""
    if gradient_accumulation_steps % world_size:
        raise ConfigError(
            f"gradient_accumulation_steps ({gradient_accumulation_steps}) must be a multiple "
            f"of the number of processes ({world_size}): each process takes an equal share",
            field="gradient_accumulation_steps",
        )
    return gradient_accumulation_steps // world_size
