"""The learning-rate schedules: nanoGPT's (linear warmup, cosine decay, then a floor) and
warmup-stable-decay (linear warmup, the peak rate, then a linear warmdown to min_lr over the
last WARMDOWN_SHARE of the run).

A run with a time budget measures its progress by the clock too: the larger of the
iterations done over max_iters and the seconds spent over the budget, so the warmdown ends at
the deadline however the speed drifts (the loop ends the run there)."""

from __future__ import annotations

import math

from worker.engine.config.train_config import TrainConfig

# The warmdown's share of the run (modded-nanogpt's cooldown; nanochat's warmdown ratio).
WARMDOWN_SHARE = 0.3


def learning_rate_at(iteration: int, cfg: TrainConfig, spent_s: float = 0.0) -> float:
    """The rate at `iteration`, `spent_s` seconds of the time budget spent."""
    if not cfg.decay_lr:
        return cfg.learning_rate
    if iteration < cfg.warmup_iters:
        return cfg.learning_rate * (iteration + 1) / (cfg.warmup_iters + 1)
    if cfg.lr_schedule == "wsd":
        return _warmdown(run_progress(iteration, cfg, spent_s), cfg)
    if iteration > cfg.lr_decay_iters:
        return cfg.min_lr
    progress = (iteration - cfg.warmup_iters) / (cfg.lr_decay_iters - cfg.warmup_iters)
    assert 0.0 <= progress <= 1.0
    coeff = 0.5 * (1.0 + math.cos(math.pi * progress))  # from 1 down to 0
    return cfg.min_lr + coeff * (cfg.learning_rate - cfg.min_lr)


def run_progress(iteration: int, cfg: TrainConfig, spent_s: float = 0.0) -> float:
    """How far the run is, 0 to 1: by iterations, or by time when that is further on."""
    progress = iteration / cfg.max_iters if cfg.max_iters else 1.0
    if cfg.time_budget_s > 0:
        progress = max(progress, spent_s / cfg.time_budget_s)
    return min(progress, 1.0)


def _warmdown(progress: float, cfg: TrainConfig) -> float:
    left = (1.0 - progress) / WARMDOWN_SHARE  # 1 where the warmdown starts, 0 at the end
    if left >= 1.0:
        return cfg.learning_rate
    return cfg.min_lr + left * (cfg.learning_rate - cfg.min_lr)
