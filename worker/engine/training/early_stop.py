"""Early stopping: end a run, as finished, once the val loss has not improved by at least
`early_stop_min_delta` for `early_stop_patience` evaluations in a row. The count and the loss
to beat live in the run's state and its checkpoints, so a resumed run stops where a straight
one would; best.pt already holds the best model."""

from __future__ import annotations

from worker.engine.config.train_config import TrainConfig
from worker.engine.training.state import TrainingState


def record_evaluation(state: TrainingState, cfg: TrainConfig, val_loss: float) -> None:
    """Count an evaluation: an improvement (by min_delta at least) resets the count."""
    if val_loss < state.early_stop_best - cfg.early_stop_min_delta:
        state.early_stop_best = val_loss
        state.evals_without_improvement = 0
    else:
        state.evals_without_improvement += 1


def patience_ran_out(state: TrainingState, cfg: TrainConfig) -> bool:
    patience = cfg.early_stop_patience
    return patience > 0 and state.evals_without_improvement >= patience


def early_stop_message(state: TrainingState, cfg: TrainConfig) -> str:
    by = f" by {cfg.early_stop_min_delta:g} or more" if cfg.early_stop_min_delta else ""
    return (
        f"stopped early at iteration {state.iter_num}: the val loss has not improved{by} for "
        f"{state.evals_without_improvement} evaluations (early_stop_patience "
        f"{cfg.early_stop_patience}); best val loss {state.best_val_loss:.4f}, kept in best.pt"
    )
