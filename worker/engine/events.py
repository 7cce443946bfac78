"""What a training run tells its caller while it runs, and how it is asked to stop."""

from __future__ import annotations

from dataclasses import asdict, dataclass
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
class LogEvent:
    iter: int  # iterations completed, including this one's step
    loss: float  # training loss of this step (summed over micro-steps)
    lr: float
    tokens_per_sec: float
    mfu: float | None  # fraction of the device's peak; None where no honest peak exists
    elapsed_s: float
    eta_s: float
    memory_bytes: int | None
    dt_ms: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EvalEvent:
    iter: int
    train_loss: float
    val_loss: float
    lr: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CheckpointEvent:
    iter: int
    path: Path
    kind: Literal["latest", "best"]
    val_loss: float | None
    size_bytes: int


@dataclass(frozen=True)
class TrainResult:
    status: Literal["completed", "stopped"]
    iter_num: int
    best_val_loss: float
    last_loss: float | None
    checkpoint: Path | None


class TrainCallbacks:
    """Override what you need; every method here does nothing."""

    def on_start(self, info: StartInfo) -> None:
        pass

    def on_log(self, event: LogEvent) -> None:
        pass

    def on_eval(self, event: EvalEvent) -> None:
        pass

    def on_checkpoint(self, event: CheckpointEvent) -> None:
        pass

    def on_message(self, line: str) -> None:
        pass

    def should_stop(self) -> bool:
        """Polled every iteration; True writes a checkpoint and ends the run as "stopped"."""
        return False
