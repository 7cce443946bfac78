"""torch.compile that cannot sink a run: the model as the loop calls it, compiled until the
first compiled step has gone through; a compilation that fails before then (no C compiler
in the image, a Triton that cannot build its launcher, an inductor bug) leaves the run in
eager mode, and the run goes on.

A compiled module compiles at its first call: the first evaluation (inference graph) and the
first training step (forward and backward graphs). A failure there is told to the callbacks
once (`on_compile_failed`, a log line), then the same call runs on the plain model. A genuine
error of the model fails again in eager mode, as it would have without compiling. Every rank
of a DDP run falls back together (they run one image, so they fail alike)."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

import torch

from worker.engine.device import Runtime
from worker.engine.events import TrainCallbacks
from worker.engine.training.distributed import RankGroup

T = TypeVar("T")
REASON_CHARS = 300
# Where compilation happens: an error raised from these is the compiler's, not the model's.
_COMPILER_PATHS = ("/torch/_dynamo/", "/torch/_inductor/", "/torch/_functorch/", "/triton/")


def is_compile_failure(exc: BaseException) -> bool:
    """An exception raised while compiling (not running out of memory, not a stop)."""
    if isinstance(exc, torch.OutOfMemoryError) or not isinstance(exc, Exception):
        return False
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename.replace("\\", "/")
        if any(part in filename for part in _COMPILER_PATHS):
            return True
        tb = tb.tb_next
    return False


def failure_reason(exc: BaseException) -> str:
    """The root cause in one line: torch wraps the compiler's error (BackendCompilerFailed,
    InductorError) around the one that says what was missing."""
    root = exc
    seen = {id(root)}
    while (inner := root.__cause__ or root.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        root = inner
    lines = [line.strip() for line in str(root).splitlines() if line.strip()]
    text = f"{type(root).__name__}: {lines[0]}" if lines else type(root).__name__
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"


class CompiledModel:
    """The model the loop's steps (`model`, DDP-wrapped with several ranks) and evaluations
    (`evaluate`) call. `on_trial` until the first compiled step has gone through, on every
    rank alike: the ranks leave it together, in `first_step`."""

    def __init__(
        self,
        model: torch.nn.Module,
        runtime: Runtime,
        group: RankGroup,
        callbacks: TrainCallbacks,
    ) -> None:
        self.plain, self.group, self.callbacks = model, group, callbacks
        self.on_trial = runtime.compile
        self.failure: str | None = None
        # Evaluation (rank 0 alone) calls the model itself: DDP's forward would wait on the
        # other ranks. Training steps go through DDP, wrapped around the compiled model.
        self.eval_model: Any = torch.compile(model) if runtime.compile else model
        self.model: Any = group.wrap(self.eval_model)

    def evaluate(self, *args: Any) -> Any:
        """One evaluation forward pass, on this rank alone: the ranks `settle` after it."""
        if not self.on_trial or self.failure is not None:
            return self.eval_model(*args)
        try:
            return self.eval_model(*args)
        except Exception as exc:
            if not is_compile_failure(exc):
                raise
            self._failed(failure_reason(exc))
            self.eval_model = self.plain  # the steps' model changes in settle, on every rank
            return self.eval_model(*args)

    def settle(self) -> None:
        """After an evaluation, on every rank (a collective): all fall back if one did."""
        if self.on_trial and self.group.agree(self.failure is not None):
            self._fall_back(self.failure)
            self.on_trial = False  # nothing compiled is left to try

    def first_step(self, step: Callable[[], T], undo: Callable[[], None]) -> T:
        """The first compiled training step; if compiling it fails, `undo` puts the state back
        as it was before the step, and the step runs again in eager mode."""
        failure: str | None = None
        try:
            result = step()
        except Exception as exc:
            if not is_compile_failure(exc):
                raise
            failure = failure_reason(exc)
        fall_back = self.group.agree(failure is not None)
        if fall_back:
            undo()
            self._fall_back(failure)
        self.on_trial = False
        return step() if fall_back else result

    def _fall_back(self, reason: str | None) -> None:
        """Every rank at once: DDP's constructor is a collective."""
        if self.failure is None:
            self._failed(reason or "it failed on another rank")
        self.eval_model = self.plain
        self.model = self.group.wrap(self.plain)

    def _failed(self, reason: str) -> None:
        self.failure = reason
        if self.group.ranks.is_master:
            self.callbacks.on_message(
                f"torch.compile failed ({reason}); this run goes on without compiling"
            )
            self.callbacks.on_compile_failed(reason)
