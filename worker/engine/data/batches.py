"""Batches from the token files: random ones for training, with a generator whose state a
checkpoint keeps, and evenly spaced ones for evaluation."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch


class BatchSampler:
    """Draws (x, y) batches of block_size windows from one split's tokens.

    The tokens are a memmap kept open for the whole run (the file is read-only and its pages
    are evictable), and one gather fetches inputs and targets together.
    """

    def __init__(
        self,
        tokens: np.ndarray,
        *,
        batch_size: int,
        block_size: int,
        device: str,
        generator: torch.Generator | None = None,  # only next() draws random windows
    ) -> None:
        self.tokens = tokens
        assert len(self.tokens) > block_size, "preflight guarantees a split longer than a block"
        self.batch_size = batch_size
        self.block_size = block_size
        self.device = torch.device(device)
        self.generator = generator
        self._offsets = np.arange(block_size + 1, dtype=np.int64)
        # pinned host memory lets the copy to a GPU overlap with compute
        self._pin = self.device.type == "cuda"

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.generator is not None, "random batches need a generator"
        starts = torch.randint(
            len(self.tokens) - self.block_size, (self.batch_size,), generator=self.generator
        ).numpy()
        return self._gather(starts)

    def spaced(self, n_batches: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """n_batches batches whose windows are spread evenly over the whole split.

        A systematic sample estimates the split's loss with less variance than random
        windows, is the same at every evaluation, and uses no random numbers at all.
        """
        count = n_batches * self.batch_size
        starts = np.linspace(0, len(self.tokens) - self.block_size - 1, count).astype(np.int64)
        for chunk in np.split(starts, n_batches):
            yield self._gather(chunk)

    def _gather(self, starts: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        windows = self.tokens[starts[:, None] + self._offsets].astype(np.int64)  # (B, T+1)
        batch = torch.from_numpy(windows)
        if self._pin:
            batch = batch.pin_memory()
        batch = batch.to(self.device, non_blocking=True)
        return batch[:, :-1].contiguous(), batch[:, 1:].contiguous()  # targets: shifted by one
