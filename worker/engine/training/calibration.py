"""A short calibration: how fast this device trains (the budget planner's `Speed`).

Two shapes are timed for a few optimizer steps each on random tokens, after a warm-up step;
the line through their (FLOPs, seconds) points gives the device's FLOP rate and the fixed
cost of an iteration. `SPEED_TABLE`'s CPU figure is in its model."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Set

import torch

from worker.engine.config.budget import MODERN_RECIPE, parse_budget, plan_budget
from worker.engine.config.speed import Speed, flops_per_iter, scaling_params
from worker.engine.config.train_config import TrainConfig
from worker.engine.data.prepare import read_meta
from worker.engine.device import Runtime, attention_kernel, resolve_runtime
from worker.engine.model.build import build_model
from worker.engine.training.optimizers import build_optimizer

# (n_layer, n_embd, batch_size, block_size): a small and a larger step
CALIBRATION_SHAPES = ((2, 128, 8, 64), (4, 256, 16, 128))
CALIBRATION_VOCAB = 256


def measure_speed(device: str = "cpu", dtype: str = "auto", steps: int = 3) -> Speed:
    """Time CALIBRATION_SHAPES on `device` and fit the planner's speed model."""
    runtime = resolve_runtime(device, dtype, False)
    points: list[tuple[float, float]] = []
    for n_layer, n_embd, batch, block in CALIBRATION_SHAPES:
        cfg = TrainConfig.from_mapping(
            {
                **MODERN_RECIPE,
                "n_layer": n_layer,
                "n_embd": n_embd,
                "n_head": max(1, n_embd // 64),
                "batch_size": batch,
                "block_size": block,
                "gradient_accumulation_steps": 1,
            }
        )
        points.append(
            (
                flops_per_iter(cfg, scaling_params(cfg, CALIBRATION_VOCAB)),
                _time_steps(cfg, runtime, steps),
            )
        )
    (f1, t1), (f2, t2) = points
    rate = (f2 - f1) / max(t2 - t1, 1e-9)
    overhead = max(0.0, t1 - f1 / rate)
    return Speed(flops_per_s=rate, overhead_s=overhead, source=f"measured on {runtime.device_name}")


def _time_steps(cfg: TrainConfig, runtime: Runtime, steps: int) -> float:
    """Seconds a training step of `cfg` takes (the median of `steps`, after one warm-up)."""
    torch.manual_seed(0)
    model = build_model(cfg.model_args(CALIBRATION_VOCAB)).to(runtime.device)
    optimizer = build_optimizer(model, cfg, runtime.device_type)
    kernel = attention_kernel(runtime, cfg.block_size)
    shape = (cfg.batch_size, cfg.block_size)
    x = torch.randint(0, CALIBRATION_VOCAB, shape, device=runtime.device)
    y = torch.randint(0, CALIBRATION_VOCAB, shape, device=runtime.device)
    times: list[float] = []
    for _ in range(steps + 1):
        began = time.perf_counter()
        with runtime.autocast(), kernel():
            _, loss = model(x, y)
        assert loss is not None
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if runtime.device_type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - began)
    return sorted(times[1:])[len(times[1:]) // 2]


def plan_here(
    budget: object,
    cfg: TrainConfig,
    *,
    fixed: Set[str],
    calibrate: bool,
    report: Callable[[str], None],
) -> TrainConfig:
    """A budget run's config on this machine (the CLI's `train --budget`): the data's size
    from its meta, the device `cfg.device` resolves to here, its speed measured when
    `calibrate` (else the cached figure); each reason reported."""
    meta = read_meta(cfg.data_dir)
    runtime = resolve_runtime(cfg.device, cfg.dtype, False)
    speed = measure_speed(runtime.device, cfg.dtype) if calibrate else None
    plan = plan_budget(
        parse_budget(budget),
        dataclasses.replace(cfg, device=runtime.device),
        fixed=fixed,
        train_tokens=int(meta["train_tokens"]),
        vocab_size=int(meta["vocab_size"]),
        speed=speed,
    )
    for reason in plan.reasons:
        report(reason)
    return dataclasses.replace(plan.config, device=cfg.device)
