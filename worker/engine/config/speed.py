"""How long a training iteration takes on a device: a `Speed` (a FLOP rate and a fixed cost an
iteration, measured by `worker.engine.training.calibration` or cached per device kind) and the
FLOPs of an iteration of a config. The budget planner's clock (`budget.py`)."""

from __future__ import annotations

from dataclasses import dataclass

from worker.engine.config.memory_estimate import Shape, parameter_count
from worker.engine.config.train_config import TrainConfig


@dataclass(frozen=True)
class Speed:
    """How fast a device trains: an iteration takes overhead_s + its FLOPs / flops_per_s."""

    flops_per_s: float
    overhead_s: float  # per iteration, whatever its size (launches, the optimizer, Python)
    source: str  # where the figure comes from, as the plan shows it

    def seconds_per_iter(self, flops: float) -> float:
        return self.overhead_s + flops / self.flops_per_s


# Cached figures, per device kind. cpu: this project's box on a quiet machine (2 AVX-512
# cores, fp32: the 6x384 step ran at ~75 GFLOP/s, the tiny modern step in ~70 ms,
# docs/benchmarks.md), in the model `worker.engine.training.calibration.measure_speed` fits;
# cuda and mps: assumed (no such device here). A worker's own calibration replaces them.
SPEED_TABLE: dict[str, Speed] = {
    "cpu": Speed(flops_per_s=7.5e10, overhead_s=0.02, source="cached figure for a CPU"),
    "cuda": Speed(flops_per_s=1.0e14, overhead_s=0.015, source="cached figure for a GPU"),
    "mps": Speed(flops_per_s=3.0e12, overhead_s=0.02, source="cached figure for Apple MPS"),
}
# Muon's Newton-Schulz iteration: five rounds of ~4m²n + 2m³ on each m x n matrix, about
# 25 x n_embd FLOPs a parameter a step, whatever the batch (the tiny model: ~2.4 GFLOP)
MUON_FLOPS_PER_PARAM_PER_WIDTH = 25


def scaling_params(cfg: TrainConfig, vocab_size: int) -> int:
    shape = Shape(cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.block_size, cfg.bias, vocab_size,
                  cfg.arch)  # fmt: skip
    return parameter_count(shape, non_embedding=True)


def flops_per_iter(cfg: TrainConfig, params: int) -> float:
    """FLOPs of one iteration: PaLM's 6N + 12·L·C·T a token (as the model counts them), and
    Muon's orthogonalisation."""
    per_token = 6 * params + 12 * cfg.n_layer * cfg.n_embd * cfg.block_size
    optimizer = 0
    if cfg.optimizer_name == "muon":
        optimizer = MUON_FLOPS_PER_PARAM_PER_WIDTH * cfg.n_embd * params
    return per_token * cfg.tokens_per_iter + optimizer
