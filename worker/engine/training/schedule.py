"""nanoGPT's learning-rate schedule: linear warmup, cosine decay, then a floor."""

from __future__ import annotations

import math

from worker.engine.config.train_config import TrainConfig


def learning_rate_at(iteration: int, cfg: TrainConfig) -> float:
    if not cfg.decay_lr:
        return cfg.learning_rate
    if iteration < cfg.warmup_iters:
        return cfg.learning_rate * (iteration + 1) / (cfg.warmup_iters + 1)
    if iteration > cfg.lr_decay_iters:
        return cfg.min_lr
    progress = (iteration - cfg.warmup_iters) / (cfg.lr_decay_iters - cfg.warmup_iters)
    assert 0.0 <= progress <= 1.0
    coeff = 0.5 * (1.0 + math.cos(math.pi * progress))  # from 1 down to 0
    return cfg.min_lr + coeff * (cfg.learning_rate - cfg.min_lr)
