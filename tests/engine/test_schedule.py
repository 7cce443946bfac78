"""The learning-rate schedule: warmup, cosine decay, floor."""

import pytest

from worker.engine.config.train_config import TrainConfig
from worker.engine.training.schedule import learning_rate_at, run_progress

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


WSD = TrainConfig(
    learning_rate=0.02, min_lr=0.001, warmup_iters=0, max_iters=100, lr_schedule="wsd"
)


def test_wsd_is_stable_then_warms_down_linearly_to_the_floor() -> None:
    assert learning_rate_at(0, WSD) == 0.02
    assert learning_rate_at(70, WSD) == pytest.approx(0.02)  # the warmdown's start
    assert learning_rate_at(85, WSD) == pytest.approx((0.02 + 0.001) / 2)
    assert learning_rate_at(100, WSD) == pytest.approx(0.001)


def test_wsd_warms_up_first() -> None:
    warm = TrainConfig(**{**WSD.to_dict(), "warmup_iters": 9})
    assert learning_rate_at(0, warm) == pytest.approx(0.002)
    assert learning_rate_at(20, warm) == 0.02


def test_a_time_budget_moves_the_warmdown_by_the_clock() -> None:
    timed = TrainConfig(**{**WSD.to_dict(), "time_budget_s": 60.0, "max_iters": 10_000})
    # few iterations done, but 85% of the time spent: half way down
    assert learning_rate_at(10, timed, spent_s=51.0) == pytest.approx(0.0105)
    assert learning_rate_at(10, timed, spent_s=60.0) == pytest.approx(0.001)
    assert learning_rate_at(10, timed, spent_s=600.0) == pytest.approx(0.001)
    # iterations further on than the clock: they lead
    assert learning_rate_at(10_000, timed, spent_s=1.0) == pytest.approx(0.001)
    assert run_progress(5_000, timed, spent_s=6.0) == 0.5
