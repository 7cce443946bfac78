"""Optional Weights & Biases logging of a run, as nanoGPT offers (`wandb_log=true`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from worker.engine.config.train_config import TrainConfig
from worker.engine.events import StepEvent, TrainCallbacks


class _WithWandb(TrainCallbacks):
    """Forwards every callback to the reporter and mirrors losses to a wandb run."""

    def __init__(self, inner: TrainCallbacks, wandb_run: Any) -> None:
        self.inner = inner
        self.wandb_run = wandb_run

    def __getattribute__(self, name: str) -> Any:
        if name in ("on_step", "close", "inner", "wandb_run"):
            return object.__getattribute__(self, name)
        return getattr(object.__getattribute__(self, "inner"), name)

    def on_step(self, event: StepEvent) -> None:
        self.inner.on_step(event)
        values: dict[str, Any] = {"iter": event.iter, "lr": event.lr}
        if event.logged:
            values.update(
                {
                    "train/step_loss": event.loss,
                    "mfu": event.mfu,
                    "tokens_per_sec": event.tokens_per_sec,
                }
            )
        if event.evaluated:
            values.update({"train/loss": event.eval_train_loss, "val/loss": event.val_loss})
            if event.val_bpc is not None:
                values["val/bpc"] = event.val_bpc  # bits per character: across tokenizers
        self.wandb_run.log(values)

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
