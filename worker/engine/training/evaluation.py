"""The training loop's evaluation: nanoGPT's estimate_loss, on fixed windows of each split."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from worker.engine.data.batches import BatchSampler
from worker.engine.device import Runtime


class EvaluationStoppedError(Exception):
    """A stop was asked for in the middle of an evaluation."""


class Evaluator:
    """The mean loss over windows spread evenly over each split: the same windows every time
    (comparable numbers), a low-variance estimate, and no draw from the training stream."""

    def __init__(
        self,
        batches: dict[str, BatchSampler],
        eval_iters: int,
        runtime: Runtime,
        model: Any,
        attention_kernel: Callable[[], Any],
    ) -> None:
        self.batches, self.eval_iters, self.runtime = batches, eval_iters, runtime
        self.model, self.attention_kernel = model, attention_kernel

    @torch.no_grad()
    def score(self, stop_asked: Callable[[float], bool]) -> dict[str, float]:
        """Each split's mean loss; EvaluationStoppedError when stop_asked(began) says yes
        between two batches (an evaluation can be long)."""
        losses: dict[str, float] = {}
        began = time.perf_counter()
        for split, batches in self.batches.items():
            total = torch.zeros((), device=self.runtime.device)
            for x, y in batches.spaced(self.eval_iters):
                if stop_asked(began):
                    raise EvaluationStoppedError
                with self.runtime.autocast(), self.attention_kernel():
                    _, loss = self.model(x, y)
                assert loss is not None
                total += loss.float()
            losses[split] = float(total.item()) / self.eval_iters
        return losses
