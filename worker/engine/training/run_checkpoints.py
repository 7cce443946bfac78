"""The training loop's checkpoints: which it writes when, and what a diverged run kept."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from worker.engine.checkpoints.files import BEST, LATEST, save_checkpoint
from worker.engine.config.train_config import TrainConfig
from worker.engine.device import Runtime
from worker.engine.errors import DivergedError
from worker.engine.events import CheckpointEvent, CheckpointKind, TrainCallbacks
from worker.engine.training.distributed import RankGroup, rng_states
from worker.engine.training.state import TrainingState, checkpoint_payload


class RunCheckpoints:
    """ckpt.pt (latest) and best.pt of one run. Every rank calls `gather_rngs` and
    `keep_latest` together (collectives); rank 0 alone writes."""

    def __init__(
        self,
        cfg: TrainConfig,
        callbacks: TrainCallbacks,
        runtime: Runtime,
        state: TrainingState,
        group: RankGroup,
        tokenizer_meta: dict[str, Any],
    ) -> None:
        self.cfg, self.callbacks, self.runtime, self.state = cfg, callbacks, runtime, state
        self.group, self.tokenizer_meta = group, tokenizer_meta
        self.out_dir = Path(cfg.out_dir)
        self.rank_rngs: list[dict[str, Any]] = []  # every rank's, gathered before a checkpoint
        self.last_val_loss: float | None = None
        self.saved_iter: int | None = None  # iteration of the newest ckpt.pt written

    @property
    def latest(self) -> Path | None:
        path = self.out_dir / LATEST
        return path if path.exists() else None

    def gather_rngs(self, rng_before_batch: torch.Tensor) -> None:
        """Every rank's RNGs, for the checkpoint that may come next."""
        self.rank_rngs = self.group.gather_rngs(rng_states(rng_before_batch, self.runtime.device))

    def after_evaluation(
        self, val_loss: float, improved: bool, rng_before_batch: torch.Tensor
    ) -> None:
        """latest when the evaluation improved (or always_save_checkpoint), best when it
        improved; none at iteration 0 or in an eval_only run."""
        self.last_val_loss = val_loss
        if self.state.iter_num == 0 or self.cfg.eval_only:
            return  # nothing learned yet (or nothing to keep): no checkpoint
        if improved or self.cfg.always_save_checkpoint:
            self._save(LATEST, "latest", rng_before_batch)
        if improved:
            self._save(BEST, "best", rng_before_batch)

    def keep_latest(self, rng_before_batch: torch.Tensor) -> None:
        """Keep the run's end state, unless the evaluation at this iteration just did."""
        if self.state.iter_num == 0:
            return
        # every rank gets here together; only rank 0 knows whether an evaluation just saved
        self.gather_rngs(rng_before_batch)
        if self.group.ranks.is_master and self.saved_iter != self.state.iter_num:
            self._save(LATEST, "latest", rng_before_batch)

    def check_finite(self, value: float, it: int) -> None:
        """DivergedError, saying what was kept, when a loss is not finite."""
        if math.isfinite(value):
            return
        if self.latest is not None:
            at = f" (iteration {self.saved_iter})" if self.saved_iter is not None else ""
            kept = f"the last good checkpoint{at} was kept, nothing from after it"
        else:
            kept = "no checkpoint had been written yet, so there is nothing to resume"
        raise DivergedError(
            f"the loss became {value} at iteration {it}; training stopped and {kept} "
            "(try a lower learning_rate or a grad_clip)",
            field="learning_rate",
        )

    def _save(self, name: str, kind: CheckpointKind, rng_before_batch: torch.Tensor) -> None:
        # A checkpoint's val loss is the one measured at its iteration; one written between
        # evaluations (a stop, the end) has none rather than an older one's.
        measured = self.state.last_eval_iter == self.state.iter_num
        val_loss = self.last_val_loss if measured else None
        payload = checkpoint_payload(
            self.state,
            self.cfg,
            self.runtime,
            tokenizer_meta=self.tokenizer_meta,
            data_rng_state=rng_before_batch,
            val_loss=val_loss,
        )
        world_size = self.group.ranks.world_size
        if world_size > 1:  # exact resume on as many ranks: each rank's own streams
            payload["resume"].update(world_size=world_size, ranks=self.rank_rngs[1:])
        path = self.out_dir / name
        self.callbacks.before_checkpoint(self.state.iter_num)
        size = save_checkpoint(payload, path)
        if kind == "latest":
            self.saved_iter = self.state.iter_num
        self.callbacks.on_checkpoint(
            CheckpointEvent(self.state.iter_num, path, kind, val_loss, size)
        )
