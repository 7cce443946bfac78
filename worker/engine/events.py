"""What a training run tells its caller while it runs, and how it is asked to stop."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal


@dataclass(frozen=True)
class StartInfo:
    device: str
    device_name: str
    dtype: str
    compile: bool
    n_params: int
    tokens_per_iter: int
    start_iter: int  # 0, or the iteration a resume continues from
    max_iters: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StepEvent:
    """One point of a run: what a logged step measured, what an evaluation scored, or both
    (an evaluated step is logged with its evaluation as one event). Iteration 0 and an
    eval_only run are evaluated without a step; a step between log intervals is not reported.
    """

    iter: int  # iterations completed, including this one's step
    lr: float  # the learning rate of this step (of the next one when only evaluated)
    # The step, at a log interval; None on an evaluation without a step.
    loss: float | None = None  # training loss of this step (summed over micro-steps)
    tokens_per_sec: float | None = None
    mfu: float | None = None  # fraction of the device's peak; None where no honest peak exists
    elapsed_s: float | None = None
    eta_s: float | None = None
    memory_bytes: int | None = None
    dt_ms: float | None = None
    # The evaluation, when this iteration was evaluated.
    val_loss: float | None = None  # nats per token
    eval_train_loss: float | None = None
    # val_loss in bits per character of the text (comparable across tokenizers); None for
    # data prepared before the splits' characters were counted
    val_bpc: float | None = None

    @property
    def logged(self) -> bool:
        return self.loss is not None

    @property
    def evaluated(self) -> bool:
        return self.val_loss is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


CheckpointKind = Literal["latest", "best"]
TrainStatus = Literal["completed", "stopped", "early_stopped"]


@dataclass(frozen=True)
class CheckpointEvent:
    iter: int
    path: Path
    kind: CheckpointKind
    val_loss: float | None
    size_bytes: int


@dataclass(frozen=True)
class TrainResult:
    status: TrainStatus
    iter_num: int
    best_val_loss: float
    last_loss: float | None
    checkpoint: Path | None
    message: str | None = None  # why it ended early, for an early stop


class TrainCallbacks:
    """Override what you need; every method here does nothing."""

    def on_start(self, info: StartInfo) -> None:
        pass

    def on_step(self, event: StepEvent) -> None:
        pass

    def before_checkpoint(self, iter_num: int) -> None:
        """Called just before a checkpoint is written. A caller that buffers what it was told
        should store it now: a run resumed from that checkpoint then has no hole in its
        history, even if the process dies the moment the file is in place."""

    def on_checkpoint(self, event: CheckpointEvent) -> None:
        pass

    def on_message(self, line: str) -> None:
        pass

    def on_compile_failed(self, reason: str) -> None:
        """torch.compile failed at the run's first compiled call; it goes on in eager mode."""

    def should_stop(self) -> bool:
        """Polled every iteration, and in a long evaluation or iteration (once it has run half
        a second) between its batches; True writes a checkpoint and ends the run as
        "stopped"."""
        return False


class StepReporter:
    """How the loop reports its points: a logged step whose iteration is evaluated next waits
    for that evaluation, and the two go to the callbacks as one event."""

    def __init__(self, callbacks: TrainCallbacks) -> None:
        self.callbacks = callbacks
        self._held: StepEvent | None = None

    def step(self, event: StepEvent, *, evaluation_follows: bool) -> None:
        if evaluation_follows:
            self._held = event
        else:
            self.callbacks.on_step(event)

    def evaluation(
        self, iter_num: int, lr: float, *, val_loss: float, train_loss: float, bpc: float | None
    ) -> None:
        """The scores of iteration iter_num, with its held step, or alone (iteration 0, an
        eval_only run, a step between log intervals)."""
        step, self._held = self._held, None
        if step is not None and step.iter != iter_num:  # not this evaluation's step
            self.callbacks.on_step(step)
            step = None
        step = step or StepEvent(iter=iter_num, lr=lr)
        self.callbacks.on_step(
            replace(step, val_loss=val_loss, eval_train_loss=train_loss, val_bpc=bpc)
        )

    def release(self) -> None:
        """A held step whose evaluation will not be reported (cut short by a stop, or scored
        a loss that is not finite) goes out alone."""
        if self._held is not None:
            self.callbacks.on_step(self._held)
            self._held = None
