"""torch.optim.Muon's update for CPUs: Newton-Schulz batched by shape, in a dtype the CPU
has fast kernels for.

torch.optim.Muon orthogonalises every update in bfloat16 (`grad.bfloat16()` inside its
Newton-Schulz loop), one matrix at a time. On a CPU without AVX512-BF16 or AMX, bf16 matmuls
have no fast kernel: measured on this project's AVX2 CPU, the Muon step of the tiny model
took longer than its forward and backward passes together (docs/benchmarks.md). This
subclass does the same algorithm — Nesterov momentum, the same quintic coefficients and step
count, decoupled weight decay, Keller Jordan's sqrt(max(1, rows/cols)) learning-rate
adjustment — in float32 there, and in bfloat16 (torch's own choice) where the CPU has bf16
hardware, which made the 6×384 model's step 2.8× faster on such a CPU; either way it runs
the iteration for all matrices of one shape at once (one batched matmul instead of one per
layer). Its param_groups and state ("momentum_buffer") are torch's, so a checkpoint moves
between the two.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch


def newton_schulz(
    updates: torch.Tensor, coefficients: tuple[float, float, float], steps: int, eps: float
) -> torch.Tensor:
    """Approximately orthogonalise each (A, B) matrix of a (N, A, B) stack, in its own dtype."""
    a, b, c = coefficients
    wide = updates.size(-2) > updates.size(-1)
    x = updates.mT if wide else updates  # iterate on the short side: (N, small, large)
    x = x / x.norm(dim=(-2, -1), keepdim=True).clamp(min=eps)  # spectral norm <= 1
    for _ in range(steps):
        gram = x @ x.mT  # (N, small, small)
        poly = torch.baddbmm(gram, gram, gram, beta=b, alpha=c)  # b·G + c·G²
        x = torch.baddbmm(x, poly, x, beta=a)  # a·X + (b·G + c·G²)·X
    return x.mT if wide else x


class CpuMuon(torch.optim.Muon):
    """torch.optim.Muon, orthogonalising batched by shape in `ns_dtype` (float32 for CPUs
    without fast bf16)."""

    def __init__(self, params: Any, *, ns_dtype: torch.dtype = torch.float32, **kwargs: Any):
        super().__init__(params, **kwargs)
        self.ns_dtype = ns_dtype

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            assert group.get("adjust_lr_fn") in (None, "original"), "only Keller's adjustment"
            momentum, lr = group["momentum"], float(group["lr"])
            by_shape: dict[torch.Size, list[torch.Tensor]] = defaultdict(list)
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state[param]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(param.grad)
                by_shape[param.shape].append(param)
            for shape, params in by_shape.items():
                grads = torch.stack([p.grad for p in params])  # type: ignore[misc]
                bufs = [self.state[p]["momentum_buffer"] for p in params]
                torch._foreach_lerp_(bufs, list(grads.unbind(0)), 1 - momentum)
                stacked = torch.stack(bufs)
                update = grads.lerp(stacked, momentum) if group["nesterov"] else stacked
                update = newton_schulz(
                    update.to(self.ns_dtype),
                    group["ns_coefficients"],
                    group["ns_steps"],
                    group["eps"],
                ).to(params[0].dtype)
                adjusted = lr * math.sqrt(max(1.0, shape[0] / shape[1]))
                torch._foreach_mul_(params, 1 - lr * group["weight_decay"])
                torch._foreach_add_(params, list(update.unbind(0)), alpha=-adjusted)
        return loss
