"""The learning-rate schedule: warmup, cosine decay, floor."""

import pytest

from worker.engine.config.train_config import TrainConfig
from worker.engine.training.schedule import learning_rate_at

CFG = TrainConfig(learning_rate=1e-3, min_lr=1e-4, warmup_iters=10, lr_decay_iters=110)


def test_warmup_rises_linearly() -> None:
    assert learning_rate_at(0, CFG) == pytest.approx(1e-3 / 11)
    assert learning_rate_at(9, CFG) == pytest.approx(1e-3 * 10 / 11)


def test_cosine_falls_from_peak_to_floor() -> None:
    assert learning_rate_at(10, CFG) == pytest.approx(1e-3)
    assert learning_rate_at(60, CFG) == pytest.approx((1e-3 + 1e-4) / 2)
    assert learning_rate_at(110, CFG) == pytest.approx(1e-4)
    assert learning_rate_at(5000, CFG) == 1e-4


def test_constant_without_decay() -> None:
    flat = TrainConfig(learning_rate=3e-4, decay_lr=False)
    assert {learning_rate_at(i, flat) for i in (0, 10, 10_000)} == {3e-4}
