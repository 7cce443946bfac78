"""torch.compile that fails for real (inductor given a C++ compiler that is not one, as in an
image without gcc) leaves the run in eager mode: it says so once and trains on, on the same
curve as a run that never compiled, whether the failure comes at the first evaluation or at
the first step of a resumed run."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from engine_helpers import prepared, shakespeare, tiny_config

from worker.engine.events import StartInfo, StepEvent, TrainCallbacks
from worker.engine.training.compile_fallback import failure_reason, is_compile_failure
from worker.engine.training.loop import train

NOT_A_COMPILER = "/bin/false"
REPO = Path(__file__).resolve().parents[2]


class Events(TrainCallbacks):
    def __init__(self, stop_at: int | None = None) -> None:
        self.started: list[StartInfo] = []
        self.logs: list[StepEvent] = []
        self.evals: list[StepEvent] = []
        self.messages: list[str] = []
        self.compile_failures: list[str] = []
        self.stop_at, self.polls = stop_at, 0

    def on_start(self, info: StartInfo) -> None:
        self.started.append(info)

    def on_step(self, event: StepEvent) -> None:
        (self.logs if event.logged else []).append(event)
        (self.evals if event.evaluated else []).append(event)

    def on_message(self, line: str) -> None:
        self.messages.append(line)

    def on_compile_failed(self, reason: str) -> None:
        self.compile_failures.append(reason)

    def should_stop(self) -> bool:
        self.polls += 1
        return self.stop_at is not None and self.polls > self.stop_at


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepared(tmp_path_factory.mktemp("corpus"), shakespeare(30_000))


@pytest.fixture
def no_cxx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Inductor as in an image without a C++ compiler: its compiler setting (what CXX sets
    at import) names a program that is not one, and no cache holds earlier compiled code."""
    import torch._dynamo
    import torch._inductor.config as inductor

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor-cache"))
    torch._dynamo.reset()
    with inductor.patch(
        {"cpp.cxx": (None, NOT_A_COMPILER), "fx_graph_cache": False, "autotune_local_cache": False}
    ):
        yield
    torch._dynamo.reset()


KNOBS = {"n_layer": 1, "n_embd": 16, "block_size": 16, "max_iters": 8, "eval_interval": 4,
         "eval_iters": 2, "log_interval": 1, "warmup_iters": 1, "lr_decay_iters": 8,
         "dtype": "float32"}  # fmt: skip


def _curve(events: Events) -> dict[str, float | None]:
    """Every loss the run reported, by where: step and evaluation."""
    steps = {f"iter {e.iter}": e.loss for e in events.logs}
    return steps | {f"eval {e.iter}": e.val_loss for e in events.evals}


def test_a_failed_compile_trains_on_eagerly_on_the_same_curve(
    data: Path, tmp_path: Path, no_cxx: None
) -> None:
    eager = Events()
    train(tiny_config(data, tmp_path / "eager", **KNOBS), eager)
    fell_back = Events()
    result = train(tiny_config(data, tmp_path / "compiled", compile=True, **KNOBS), fell_back)
    assert result.status == "completed" and result.iter_num == 8
    assert fell_back.started[0].compile is True
    (reason,) = fell_back.compile_failures  # said once, at the first evaluation
    assert "compiler" in reason.lower(), reason
    failed = [m for m in fell_back.messages if m.startswith("torch.compile failed")]
    assert failed == [f"torch.compile failed ({reason}); this run goes on without compiling"]
    assert _curve(fell_back) == pytest.approx(_curve(eager), abs=1e-6)


@pytest.mark.slow
def test_a_resumed_run_falls_back_at_its_first_step(
    data: Path, tmp_path: Path, no_cxx: None
) -> None:
    """A resume between evaluations compiles first in a training step: the step is undone
    (gradients, the batch, the random streams) and done again eagerly."""
    knobs = {**KNOBS, "dropout": 0.1, "gradient_accumulation_steps": 2}
    eager = Events()
    train(tiny_config(data, tmp_path / "eager", **knobs), eager)
    first = train(tiny_config(data, tmp_path / "halves", **knobs), Events(stop_at=6))
    assert first.iter_num == 6
    resumed = Events()
    train(tiny_config(data, tmp_path / "halves", init_from="resume", compile=True, **knobs),
          resumed)  # fmt: skip
    assert resumed.started[0].start_iter == 6 and len(resumed.compile_failures) == 1
    assert [e.iter for e in resumed.evals] == [8]  # no evaluation before the first step
    tail = {key: loss for key, loss in _curve(eager).items() if int(key.split()[1]) > 6}
    assert _curve(resumed) == pytest.approx(tail, abs=1e-4)


def test_what_counts_as_a_compile_failure() -> None:
    """An error raised in the model itself (here: a wrong input) is not one, nor is running
    out of memory; the reason is the root cause torch wrapped, in one line."""
    model = torch.nn.Linear(3, 2)
    with pytest.raises(RuntimeError) as eager_error:
        model(torch.zeros(4, 5))
    assert not is_compile_failure(eager_error.value)
    assert not is_compile_failure(torch.OutOfMemoryError("CUDA out of memory"))
    try:
        try:
            raise FileNotFoundError("cc: not found\nsecond line")
        except FileNotFoundError as inner:
            raise RuntimeError("backend='inductor' raised:") from inner
    except RuntimeError as outer:
        assert failure_reason(outer) == "FileNotFoundError: cc: not found"


@pytest.mark.slow
def test_the_command_line_says_so_and_finishes(data: Path, tmp_path: Path) -> None:
    """`nanogpt-studio train --compile=true` with CXX naming a non-compiler, as the worker's
    training process runs it: a fresh interpreter, torch configured from the environment."""
    env = {**os.environ, "CXX": NOT_A_COMPILER,
           "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor-cache")}  # fmt: skip
    knobs = [f"--{k}={v}" for k, v in {**KNOBS, "max_iters": 2, "lr_decay_iters": 2}.items()]
    done = subprocess.run(
        [sys.executable, "-m", "worker.cli", "train", "--data", str(data), "--out",
         str(tmp_path / "out"), "--device=cpu", "--compile=true", "--n_head=2",
         "--batch_size=4", *knobs],
        env=env, capture_output=True, text=True, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "torch.compile failed (" in done.stdout + done.stderr
    assert "completed at iteration 2" in done.stdout + done.stderr
