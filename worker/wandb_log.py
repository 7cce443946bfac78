"""Optional Weights & Biases logging of a run, as nanoGPT offers (`wandb_log=true`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from worker.engine.config import TrainConfig
from worker.engine.events import EvalEvent, LogEvent, TrainCallbacks


class _WithWandb(TrainCallbacks):
    """Forwards every callback to the reporter and mirrors losses to a wandb run."""

    def __init__(self, inner: TrainCallbacks, wandb_run: Any) -> None:
        self.inner = inner
        self.wandb_run = wandb_run

    def __getattribute__(self, name: str) -> Any:
        if name in ("on_log", "on_eval", "close", "inner", "wandb_run"):
            return object.__getattribute__(self, name)
        return getattr(object.__getattribute__(self, "inner"), name)

    def on_log(self, event: LogEvent) -> None:
        self.inner.on_log(event)
        self.wandb_run.log(
            {
                "iter": event.iter,
                "train/step_loss": event.loss,
                "lr": event.lr,
                "mfu": event.mfu,
                "tokens_per_sec": event.tokens_per_sec,
            }
        )

    def on_eval(self, event: EvalEvent) -> None:
        self.inner.on_eval(event)
        self.wandb_run.log(
            {
                "iter": event.iter,
                "train/loss": event.train_loss,
                "val/loss": event.val_loss,
                "lr": event.lr,
            }
        )

    def close(self) -> None:
        self.wandb_run.finish()


def with_wandb(
    reporter: TrainCallbacks, cfg: TrainConfig, say: Callable[[str], None]
) -> TrainCallbacks:
    try:
        import wandb
    except ImportError:
        say("wandb_log is on but wandb is not installed; logging to the studio only")
        return reporter
    run = wandb.init(project=cfg.wandb_project, name=cfg.wandb_run_name, config=cfg.to_dict())
    return _WithWandb(reporter, run)
