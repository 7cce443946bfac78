"""Training: loss falls, a tiny model memorises a string, runs stop, resume exactly, diverge."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from engine_helpers import prepared, shakespeare, tiny_config

from worker.engine.checkpoints.files import BEST, LATEST, load_checkpoint
from worker.engine.errors import ConfigError, DataError, DivergedError
from worker.engine.events import CheckpointEvent, StartInfo, StepEvent, TrainCallbacks
from worker.engine.training.loop import train


class Recorder(TrainCallbacks):
    """Keeps every event; stops when asked to at a given iteration."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.started: list[StartInfo] = []
        self.steps: list[StepEvent] = []
        self.logs: list[StepEvent] = []  # the steps that were logged
        self.evals: list[StepEvent] = []  # the steps that were evaluated
        self.checkpoints: list[CheckpointEvent] = []
        self.announced: list[int] = []  # before_checkpoint's iterations
        self.messages: list[str] = []
        self.stop_at = stop_at
        self.polls = 0

    def on_start(self, info: StartInfo) -> None:
        self.started.append(info)

    def on_step(self, event: StepEvent) -> None:
        self.steps.append(event)
        if event.logged:
            self.logs.append(event)
        if event.evaluated:
            self.evals.append(event)

    def before_checkpoint(self, iter_num: int) -> None:
        assert not self.steps or self.steps[-1].iter <= iter_num
        self.announced.append(iter_num)

    def on_checkpoint(self, event: CheckpointEvent) -> None:
        assert self.announced and self.announced[-1] == event.iter  # announced first
        self.checkpoints.append(event)

    def on_message(self, line: str) -> None:
        self.messages.append(line)

    def should_stop(self) -> bool:
        self.polls += 1
        return self.stop_at is not None and self.polls > self.stop_at


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepared(tmp_path_factory.mktemp("corpus"), shakespeare(60_000))


def test_loss_falls_and_every_callback_fires(data: Path, tmp_path: Path) -> None:
    events = Recorder()
    result = train(tiny_config(data, tmp_path, max_iters=60, eval_interval=30), events)
    assert result.status == "completed" and result.iter_num == 60
    assert [e.iter for e in events.evals] == [0, 30, 60]
    assert events.evals[-1].val_loss < events.evals[0].val_loss - 0.5
    assert [e.iter for e in events.logs] == list(range(5, 61, 5))
    first = events.logs[0]
    assert first.tokens_per_sec > 0 and first.lr > 0 and first.eta_s >= 0
    assert first.mfu is None  # no honest peak on a CPU
    assert events.started[0].device == "cpu" and events.started[0].start_iter == 0
    assert {c.kind for c in events.checkpoints} == {"latest", "best"}
    assert events.announced == [c.iter for c in events.checkpoints]
    assert (tmp_path / LATEST).is_file() and (tmp_path / BEST).is_file()
    assert any(m.startswith("step 30: train loss") for m in events.messages)
    # One event per iteration: an evaluated step arrives with its step's figures.
    assert [e.iter for e in events.steps] == [0, *range(5, 61, 5)]
    assert events.steps[0].loss is None and events.steps[0].tokens_per_sec is None
    at_30 = next(e for e in events.steps if e.iter == 30)
    assert at_30.logged and at_30.evaluated and at_30.eval_train_loss is not None
    assert any(m.startswith("iter 5: loss") for m in events.messages)


def test_tiny_model_memorises_a_200_character_string(tmp_path: Path) -> None:
    line = "the quick brown fox jumps over the lazy dog; pack my box with five dozen jugs.\n"
    text = (line * 3)[:200] + "\n" + (line * 3)[:200]
    data = prepared(tmp_path, text, val_fraction=0.5)
    cfg = tiny_config(
        data, tmp_path / "out", block_size=16, batch_size=16, max_iters=300,
        eval_interval=300, learning_rate=1e-2, lr_decay_iters=300, min_lr=1e-3,
    )  # fmt: skip
    events = Recorder()
    train(cfg, events)
    assert events.evals[-1].eval_train_loss < 0.15


def test_stop_writes_a_checkpoint_and_returns_cleanly(data: Path, tmp_path: Path) -> None:
    events = Recorder(stop_at=7)
    result = train(tiny_config(data, tmp_path, eval_interval=100), events)
    assert result.status == "stopped" and result.iter_num == 7
    assert load_checkpoint(tmp_path / LATEST)["iter_num"] == 7
    assert result.checkpoint == tmp_path / LATEST


class StopAfterIteration(Recorder):
    """Stops once a given iteration has been logged (not after a number of polls, which a
    busy machine changes: a slow phase polls in its middle too)."""

    def __init__(self, iteration: int) -> None:
        super().__init__()
        self.iteration = iteration

    def should_stop(self) -> bool:
        return bool(self.logs) and self.logs[-1].iter >= self.iteration


def test_a_checkpoint_between_evaluations_has_no_val_loss(data: Path, tmp_path: Path) -> None:
    """ckpt.pt written at a stop carries no val loss: none was measured at its iteration."""
    events = StopAfterIteration(6)
    cfg = tiny_config(data, tmp_path, eval_interval=4, log_interval=1, always_save_checkpoint=True)
    train(cfg, events)
    at_eval, at_stop = events.checkpoints[0], events.checkpoints[-1]
    assert (at_eval.iter, at_stop.iter) == (4, 6)
    assert at_eval.val_loss == events.evals[-1].val_loss  # measured there
    assert at_stop.val_loss is None
    assert load_checkpoint(tmp_path / LATEST)["val_loss"] is None


def test_resume_is_exact(data: Path, tmp_path: Path) -> None:
    """N straight == N/2, stop, resume, N/2: dropout, micro-steps and evals included."""
    knobs = {"dropout": 0.1, "gradient_accumulation_steps": 2, "max_iters": 30,
             "eval_interval": 10, "log_interval": 1}  # fmt: skip
    straight = Recorder()
    train(tiny_config(data, tmp_path / "straight", **knobs), straight)

    halves = Recorder(stop_at=15)
    first = train(tiny_config(data, tmp_path / "halves", **knobs), halves)
    assert first.status == "stopped" and first.iter_num == 15
    resumed = Recorder()
    train(tiny_config(data, tmp_path / "halves", init_from="resume", **knobs), resumed)

    assert resumed.started[0].start_iter == 15
    assert [e.iter for e in resumed.evals] == [20, 30]  # no repeated evaluation
    assert resumed.logs[-1].loss == pytest.approx(straight.logs[-1].loss, abs=1e-4)
    for a, b in zip(halves.logs + resumed.logs, straight.logs, strict=True):
        assert a.iter == b.iter and a.loss == pytest.approx(b.loss, abs=1e-4)
    end_a = load_checkpoint(tmp_path / "straight" / LATEST)["model"]
    end_b = load_checkpoint(tmp_path / "halves" / LATEST)["model"]
    for key, tensor in end_a.items():
        torch.testing.assert_close(end_b[key], tensor, rtol=0, atol=1e-4)


def test_resume_at_an_evaluation_does_not_repeat_it(data: Path, tmp_path: Path) -> None:
    train(tiny_config(data, tmp_path, max_iters=20, eval_interval=10), Recorder(stop_at=10))
    resumed = Recorder()
    train(tiny_config(data, tmp_path, max_iters=20, eval_interval=10, init_from="resume"), resumed)
    assert [e.iter for e in resumed.evals] == [20]


def test_nan_loss_stops_as_diverged_and_keeps_last_good_checkpoint(
    data: Path, tmp_path: Path
) -> None:
    train(tiny_config(data, tmp_path, max_iters=20, eval_interval=10))
    good = load_checkpoint(tmp_path / LATEST)
    # resuming with an absurd learning rate blows the weights up within a step or two
    cfg = tiny_config(data, tmp_path, max_iters=40, eval_interval=10, init_from="resume",
                      learning_rate=1e6, min_lr=1e6, decay_lr=False, grad_clip=0.0)  # fmt: skip
    with pytest.raises(DivergedError, match="loss became") as caught:
        train(cfg, Recorder())
    assert caught.value.reason == "diverged"
    assert "the last good checkpoint" in caught.value.message
    kept = load_checkpoint(tmp_path / LATEST)
    assert kept["iter_num"] == good["iter_num"] == 20
    assert all(torch.isfinite(t).all() for t in kept["model"].values())


def test_diverging_before_any_checkpoint_says_so(data: Path, tmp_path: Path) -> None:
    cfg = tiny_config(data, tmp_path, max_iters=40, eval_interval=20, learning_rate=1e6,
                      min_lr=1e6, decay_lr=False, grad_clip=0.0, log_interval=1)  # fmt: skip
    with pytest.raises(DivergedError, match="no checkpoint had been written yet"):
        train(cfg, Recorder())
    assert not (tmp_path / LATEST).exists()


def test_preflight_refuses_before_any_work(data: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        train(tiny_config(data, tmp_path / "a", n_embd=30, n_head=4))
    assert caught.value.field == "n_embd"
    with pytest.raises(DataError, match="largest block_size that fits") as caught:
        train(tiny_config(data, tmp_path / "b", block_size=100_000))
    assert caught.value.field == "block_size"
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_resume_without_a_checkpoint_says_so(data: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no checkpoint") as caught:
        train(tiny_config(data, tmp_path, init_from="resume"))
    assert caught.value.field == "init_from"


def test_eval_only_evaluates_once_and_saves_nothing(data: Path, tmp_path: Path) -> None:
    events = Recorder()
    train(tiny_config(data, tmp_path, eval_only=True), events)
    assert len(events.evals) == 1 and not events.logs and not events.checkpoints
    assert math.isfinite(events.evals[0].val_loss)


def test_a_stop_reaches_a_long_evaluation(data: Path, tmp_path: Path) -> None:
    """A cancel while 2 × 10,000 batches are scored ends the run there, not after."""
    events = Recorder(stop_at=1)  # the first poll (in the evaluation) says go on, the next stop
    cfg = tiny_config(data, tmp_path, eval_iters=10_000, eval_interval=10, max_iters=20)
    result = train(cfg, events)
    assert result.status == "stopped" and result.iter_num == 0
    assert events.evals == [] and events.polls == 2
    assert any(m.startswith("stopping at iteration 0") for m in events.messages)


class StopInIteration(Recorder):
    """Stops in the first iteration after `after` was logged: at its start (`mid=False`), or
    in the middle of its micro-steps (`mid=True`, skipping the poll at its start)."""

    def __init__(self, after: int, *, mid: bool) -> None:
        super().__init__()
        self.after, self.mid, self.asked = after, mid, 0

    def should_stop(self) -> bool:
        if not any(e.iter >= self.after for e in self.logs):
            return False
        self.asked += 1
        return self.asked >= (2 if self.mid else 1)


def test_a_stop_between_micro_steps_saves_the_iteration_s_start(data: Path, tmp_path: Path) -> None:
    """Left in the middle of its micro-steps, an iteration is saved as it began: the same
    weights and RNG states as a stop at its start, so a resume redoes it exactly."""
    knobs = {"gradient_accumulation_steps": 800, "max_iters": 3, "log_interval": 1,
             "eval_interval": 100, "dropout": 0.1, "batch_size": 2, "block_size": 8}  # fmt: skip
    at_start = StopInIteration(1, mid=False)
    train(tiny_config(data, tmp_path / "start", **knobs), at_start)
    in_middle = StopInIteration(1, mid=True)
    result = train(tiny_config(data, tmp_path / "middle", **knobs), in_middle)
    assert result.status == "stopped" and result.iter_num == 1
    assert in_middle.asked == 2  # it was stopped inside the iteration
    a = load_checkpoint(tmp_path / "start" / LATEST)
    b = load_checkpoint(tmp_path / "middle" / LATEST)
    assert a["iter_num"] == b["iter_num"] == 1
    for key, tensor in a["model"].items():
        torch.testing.assert_close(b["model"][key], tensor, rtol=0, atol=0)
    for rng in ("torch_rng", "data_rng"):
        assert torch.equal(a["resume"][rng], b["resume"][rng])
