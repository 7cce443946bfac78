"""Early stopping: a run whose val loss stops improving ends as finished, keeps best.pt, and
a resumed run stops exactly where the straight one did (the count is in the checkpoint)."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_helpers import prepared, shakespeare, tiny_config
from test_train import Recorder

from worker.engine.checkpoints.files import BEST, LATEST, load_checkpoint
from worker.engine.config.preflight import find_problems
from worker.engine.training.loop import train

# With a min_delta no loss can beat, every evaluation after the first counts against it.
NEVER_ENOUGH = {"early_stop_min_delta": 100.0, "n_layer": 1, "max_iters": 60}


class StopAfterEval(Recorder):
    """Asks to stop once iteration `at` has been evaluated."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def should_stop(self) -> bool:
        return any(e.iter == self.at for e in self.evals)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepared(tmp_path_factory.mktemp("corpus"), shakespeare(20_000))


def test_off_by_default_and_patience_stops_as_finished(data: Path, tmp_path: Path) -> None:
    assert tiny_config(data, tmp_path).early_stop_patience == 0
    recorder = Recorder()
    cfg = tiny_config(data, tmp_path, eval_interval=10, early_stop_patience=2, **NEVER_ENOUGH)
    result = train(cfg, recorder)
    assert result.status == "early_stopped" and result.iter_num == 20
    assert [e.iter for e in recorder.evals] == [0, 10, 20]
    assert result.message is not None and "stopped early at iteration 20" in result.message
    assert "for 2 evaluations" in result.message and "best.pt" in result.message
    assert result.message in recorder.messages
    assert (tmp_path / BEST).is_file()  # iteration 10 was the best and was kept
    latest = load_checkpoint(tmp_path / LATEST)
    assert latest["iter_num"] == 20
    assert latest["config"]["early_stop_patience"] == 2
    assert latest["resume"]["evals_without_improvement"] == 2


def test_real_improvements_keep_it_going(data: Path, tmp_path: Path) -> None:
    cfg = tiny_config(data, tmp_path, max_iters=30, eval_interval=10, early_stop_patience=1)
    assert train(cfg, Recorder()).status == "completed"  # the loss falls at every evaluation


def test_resume_stops_where_the_straight_run_did(data: Path, tmp_path: Path) -> None:
    knobs = {"eval_interval": 5, "early_stop_patience": 3, **NEVER_ENOUGH}
    straight = Recorder()
    done = train(tiny_config(data, tmp_path / "straight", **knobs), straight)
    assert done.status == "early_stopped" and done.iter_num == 15

    first = train(tiny_config(data, tmp_path / "halves", **knobs), StopAfterEval(10))
    assert first.status == "stopped" and first.iter_num == 10
    assert load_checkpoint(tmp_path / "halves" / LATEST)["resume"]["evals_without_improvement"] == 2
    resumed = Recorder()
    again = train(tiny_config(data, tmp_path / "halves", init_from="resume", **knobs), resumed)
    assert again.status == "early_stopped" and again.iter_num == 15
    assert resumed.evals[-1].val_loss == pytest.approx(straight.evals[-1].val_loss, abs=1e-4)


def test_negative_settings_are_refused(data: Path, tmp_path: Path) -> None:
    cfg = tiny_config(data, tmp_path, early_stop_patience=-1, early_stop_min_delta=-0.1)
    fields = [p.field for p in find_problems(cfg)]
    assert fields == ["early_stop_patience", "early_stop_min_delta"]
