"""The schedule knobs a user leaves unset follow the run's length, so a config that sets only
`max_iters` trains the schedule its preset meant for its own length (nanoGPT's recipes set
`lr_decay_iters` equal to `max_iters`). Written once: the API, the dry run, the form (through
the dry run) and the CLI all build a config through `with_derived_schedule`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from worker.engine.config.train_config import TrainConfig

# The knobs derived from max_iters when the user does not set them.
DERIVED_KNOBS = ("lr_decay_iters", "warmup_iters")
# An unset warmup is at most this share of the schedule (the shorter of max_iters and
# lr_decay_iters): a preset's 100-step warmup would otherwise swallow a 60-step run.
WARMUP_SHARE = 10  # a tenth


def warmup_cap(max_iters: int, lr_decay_iters: int) -> int:
    return max(0, min(max_iters, lr_decay_iters) // WARMUP_SHARE)


def with_derived_schedule(base: TrainConfig, given: Mapping[str, Any]) -> TrainConfig:
    """`given` (the user's values) over `base` (a preset, nanoGPT's defaults, or the run a
    clone copies), then the knobs of DERIVED_KNOBS not in `given`: lr_decay_iters =
    max_iters, warmup_iters = min(base's warmup, a tenth of the schedule)."""
    cfg = TrainConfig.from_mapping(given, base=base)
    if cfg.max_iters < 1:
        return cfg  # preflight refuses it; nothing sensible follows from it
    derived: dict[str, int] = {}
    if "lr_decay_iters" not in given:
        derived["lr_decay_iters"] = cfg.max_iters
    if "warmup_iters" not in given and base.warmup_iters >= 0:
        decay = derived.get("lr_decay_iters", cfg.lr_decay_iters)
        derived["warmup_iters"] = min(base.warmup_iters, warmup_cap(cfg.max_iters, decay))
    return dataclasses.replace(cfg, **derived)


def set_knobs(cfg: TrainConfig) -> set[str]:
    """The DERIVED_KNOBS of a stored config that do not follow its max_iters (so a user set
    them): a clone keeps those and lets the others follow its own max_iters."""
    out = set()
    if cfg.lr_decay_iters != cfg.max_iters:
        out.add("lr_decay_iters")
    if cfg.warmup_iters > warmup_cap(cfg.max_iters, cfg.lr_decay_iters):
        out.add("warmup_iters")
    return out
