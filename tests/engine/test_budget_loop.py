"""A run with a time budget: the loop ends at the deadline, evaluated, its rate warmed down."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_helpers import prepared, shakespeare, tiny_config

from worker.engine.checkpoints.files import LATEST, load_checkpoint
from worker.engine.config.train_config import TrainConfig
from worker.engine.events import StepEvent, TrainCallbacks
from worker.engine.training.loop import train

MAX_ITERS = 10_000_000  # never reached: the budget ends the run


class Steps(TrainCallbacks):
    def __init__(self) -> None:
        self.logged: list[StepEvent] = []
        self.evaluated: list[StepEvent] = []

    def on_step(self, event: StepEvent) -> None:
        if event.logged:
            self.logged.append(event)
        if event.evaluated:
            self.evaluated.append(event)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepared(tmp_path_factory.mktemp("corpus"), shakespeare(30_000))


def budget_config(data: Path, out: Path, seconds: float, **overrides: object) -> TrainConfig:
    return tiny_config(
        data,
        out,
        time_budget_s=seconds,
        lr_schedule="wsd",
        max_iters=MAX_ITERS,
        warmup_iters=0,
        eval_interval=MAX_ITERS,  # only the first evaluation and the one at the deadline
        log_interval=1,
        learning_rate=1e-2,
        min_lr=1e-3,
        **overrides,
    )


def test_the_deadline_ends_the_run_evaluated_with_its_rate_warmed_down(
    data: Path, tmp_path: Path
) -> None:
    steps = Steps()
    result = train(budget_config(data, tmp_path, 2.0), steps)
    assert result.status == "completed"
    assert 0 < result.iter_num < MAX_ITERS
    assert [e.iter for e in steps.evaluated] == [0, result.iter_num]
    rates = [e.lr for e in steps.logged]
    assert rates[0] == 1e-2  # the stable phase
    assert rates[-1] < 1e-2 * 0.5  # the last step, deep in the warmdown
    assert rates == sorted(rates, reverse=True)
    assert steps.logged[-1].eta_s is not None and steps.logged[-1].eta_s <= 2.0
    saved = load_checkpoint(tmp_path / LATEST)
    assert saved["iter_num"] == result.iter_num
    assert saved["resume"]["budget_spent_s"] > 0


def test_a_resumed_run_keeps_the_budget_it_spent(data: Path, tmp_path: Path) -> None:
    first = train(budget_config(data, tmp_path, 1.0))
    steps = Steps()
    again = train(budget_config(data, tmp_path, 1.0, init_from="resume"), steps)
    assert again.status == "completed"
    assert again.iter_num == first.iter_num  # the budget was spent: nothing more to train
    assert steps.logged == []
