"""A budget run's plan: the model, batch and iterations a wall-time budget buys on a device.

Pure arithmetic on the config (no torch): the device's speed (a measured `Speed`, or the cached
figure for its kind), the train split's token count and a compute-optimal rule choose the size. The
rule is Chinchilla's and nanochat's: about TOKENS_PER_PARAM training tokens per parameter, so of the
shapes whose iterations fit the budget, the largest that still sees that many tokens. That ratio was
fit on models of 70M parameters and up; below a million, where CPU budgets of minutes land, a
model's capacity limits it before its tokens do, and this project's bench found about
SMALL_TOKENS_PER_PARAM best (`tokens_per_param`: the ratio slides from one to the other between a
million and a hundred million parameters). When the data is too small for that model (it would pass
over the train split more than REPEAT_EPOCHS times, past which repeated tokens are worth less than
new ones, Muennighoff et al. 2023), the budget buys a larger model instead, the smallest that sees
the data at most REPEAT_EPOCHS times, within two bounds: no more parameters than the train split has
tokens, and at least MIN_TOKENS_PER_PARAM tokens a parameter. (Measured: on Tiny Shakespeare in 5
CPU minutes the compute-optimal 0.1M-parameter model, at 19 epochs, lost to a 0.8M preset at 1.5
epochs; the larger model this rule buys wins; docs/benchmarks.md.) Every knob the user set is
kept; the plan says why it chose what it chose.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Set
from dataclasses import dataclass
from typing import Any

from worker.engine.config.memory_estimate import estimate_memory
from worker.engine.config.memory_guard import WARN_SHARE, Device
from worker.engine.config.speed import SPEED_TABLE, Speed, flops_per_iter, scaling_params
from worker.engine.config.train_config import MAX_TIME_BUDGET_S, TrainConfig
from worker.engine.errors import ConfigError

TOKENS_PER_PARAM = 20.0
SMALL_TOKENS_PER_PARAM = 5.0  # at SMALL_PARAMS and below (docs/benchmarks.md: budget runs)
SMALL_PARAMS, LARGE_PARAMS = 1e6, 1e8  # the ratio slides between them, on a log scale
REPEAT_EPOCHS = 4.0  # passes over the data that are worth about as much as new tokens
MIN_TOKENS_PER_PARAM = 2.0  # a larger model than this feeds would be mostly untrained
MIN_BUDGET_S = 10.0  # the process's start and one evaluation need some seconds of their own
# The budget counts the whole run; the loop gets what is left after the process starts
# (importing torch, opening the data, building the model) and writes its last checkpoint.
START_RESERVE_S = {"cpu": 4.0, "cuda": 20.0, "mps": 8.0}
START_RESERVE_SHARE = 0.25  # of a short budget, at most
EVALUATIONS = 5  # during the run, besides the one at its start; the last is at the deadline
EVAL_SHARE = 0.08  # of the loop's time, at most, spent evaluating
MIN_ITERS = 60  # fewer, and the batch is made smaller
HEAD_SIZE = 64
# (n_layer, n_embd): widths in steps of HEAD_SIZE, between 32 and 128 channels a layer
CANDIDATES = sorted(
    ((depth, width) for depth in range(2, 25) for width in range(64, 2049, 64)
     if 32 <= width / depth <= 128),
    key=lambda s: s[0] * s[1] * s[1],
)  # fmt: skip
# the modern recipe (presets' _FAST): Muon at nanochat's matrix rate, warmed down to 1/20
MODERN_RECIPE: dict[str, Any] = {
    "arch": "modern",
    "optimizer": "muon",
    "bias": False,
    "learning_rate": 0.02,
    "min_lr": 0.001,
    "warmup_iters": 0,
    "weight_decay": 0.0,
    "grad_clip": 0.0,
    "dropout": 0.0,
}
# nanoGPT's recipe, for a user who keeps arch=gpt2: AdamW, a short warmup
GPT2_RECIPE: dict[str, Any] = {
    "optimizer": "adamw",
    "learning_rate": 1e-3,
    "min_lr": 5e-5,
    "weight_decay": 0.1,
    "grad_clip": 1.0,
    "dropout": 0.0,
}
DEFAULT_BLOCK = {"cpu": 128, "cuda": 256, "mps": 256}
DEFAULT_BATCH = {"cpu": 16, "cuda": 64, "mps": 32}


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_budget(raw: object) -> float:
    """Seconds from "90s", "20m", "2h", "1d" or a number of seconds; refused outside
    MIN_BUDGET_S .. MAX_TIME_BUDGET_S, naming the field `budget`."""
    if isinstance(raw, bool):
        raise ConfigError("budget must be a duration such as 90s, 20m or 2h", field="budget")
    if isinstance(raw, int | float):
        seconds = float(raw)
    else:
        match = _DURATION.match(raw) if isinstance(raw, str) else None
        if match is None:
            raise ConfigError(
                f"budget must be a duration such as 90s, 20m or 2h, got {str(raw)[:40]!r}",
                field="budget",
            )
        seconds = float(match.group(1)) * _UNIT_S[match.group(2) or "s"]
    if not math.isfinite(seconds) or not MIN_BUDGET_S <= seconds <= MAX_TIME_BUDGET_S:
        raise ConfigError(
            f"budget must be between {MIN_BUDGET_S:.0f} seconds and "
            f"{MAX_TIME_BUDGET_S / 86400:.0f} days",
            field="budget",
        )
    return seconds


@dataclass(frozen=True)
class BudgetPlan:
    """What a budget buys: the config to train, and the figures that explain it."""

    config: TrainConfig
    budget_s: float
    params: int  # the model's parameters, as the rule counts them (non-embedding)
    tokens: int  # trained on in the expected iterations
    epochs: float  # passes over the train split
    expected_iters: int
    seconds_per_iter: float
    speed: Speed
    reasons: tuple[str, ...]

    def summary(self) -> dict[str, Any]:
        """The plan as the API and the form show it."""
        return {
            "budget_s": self.budget_s,
            "params": self.params,
            "tokens": self.tokens,
            "epochs": round(self.epochs, 2),
            "tokens_per_param": round(self.tokens / max(self.params, 1), 1),
            "expected_iters": self.expected_iters,
            "seconds_per_iter": self.seconds_per_iter,
            "speed": self.speed.source,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class _Sized:
    cfg: TrainConfig
    params: int
    seconds_per_iter: float
    iters: int

    @property
    def tokens(self) -> int:
        return self.iters * self.cfg.tokens_per_iter


def plan_budget(
    budget_s: float,
    base: TrainConfig,
    *,
    fixed: Set[str],
    train_tokens: int,
    vocab_size: int,
    device: Device | None = None,
    speed: Speed | None = None,
) -> BudgetPlan:
    """The best config `budget_s` seconds buy: `base` with every knob the plan chooses,
    except those in `fixed` (the user's). `device` (its free memory) bounds the size by the
    memory guard; `speed` (a calibration) else the cached figure for its kind."""
    kind = device.kind if device is not None else _kind(base.device)
    speed = speed or SPEED_TABLE.get(kind, SPEED_TABLE["cpu"])
    reserve = min(START_RESERVE_S.get(kind, 4.0), START_RESERVE_SHARE * budget_s)
    loop_s = budget_s - reserve
    keeps_gpt2 = "arch" in fixed and base.arch == "gpt2"
    cfg = _free(base, fixed, GPT2_RECIPE if keeps_gpt2 else MODERN_RECIPE)
    cfg = _free(
        cfg,
        fixed,
        {
            "block_size": _block(kind, train_tokens),
            "batch_size": DEFAULT_BATCH.get(kind, 16),
            "gradient_accumulation_steps": 1,
            "lr_schedule": "wsd",
            "decay_lr": True,
            "time_budget_s": loop_s,
            "always_save_checkpoint": False,
        },
    )
    reasons = [
        f"{budget_s:,.0f} s budget: {loop_s:,.0f} s of training after {reserve:.0f} s to start",
        f"speed: {speed.source} ({speed.flops_per_s / 1e9:,.1f} GFLOP/s, "
        f"{speed.overhead_s * 1000:.1f} ms an iteration)",
    ]
    free = device.free_bytes * WARN_SHARE if device is not None else None
    ladder: list[_Sized] = []  # every shape that fits memory, smallest first
    for depth, width in _shapes(cfg, fixed):
        trial = _free(cfg, fixed, {"n_layer": depth, "n_embd": width, "n_head": _heads(width)})
        if trial.n_embd % trial.n_head:
            continue
        trial = _fit_batch(trial, fixed, vocab_size, kind, free)
        if trial is not None:
            ladder.append(_size(trial, vocab_size, speed, loop_s))
    if not ladder:
        raise ConfigError(
            "no model fits this device's memory with the knobs set; free some of them",
            field="budget",
        )
    chosen, why = _choose(ladder, train_tokens)
    reasons.append(why)
    final = _schedule(chosen, fixed, loop_s, speed)
    epochs = chosen.tokens / max(train_tokens, 1)
    c = final.cfg
    reasons.append(
        f"{c.n_layer} layers × {c.n_embd} ({c.n_head} heads), block {c.block_size}, batch "
        f"{c.batch_size}: {final.params / 1e6:.2f}M parameters, about {final.iters:,} "
        f"iterations of {final.seconds_per_iter * 1000:.0f} ms, {final.tokens:,} tokens "
        f"({epochs:.1f} epochs)"
    )
    reasons.append(
        f"{c.arch} arch, {c.optimizer_name}; warmup-stable-decay schedule whose warmdown ends "
        "at the deadline"
    )
    return BudgetPlan(
        config=c,
        budget_s=budget_s,
        params=final.params,
        tokens=final.tokens,
        epochs=final.tokens / max(train_tokens, 1),
        expected_iters=final.iters,
        seconds_per_iter=final.seconds_per_iter,
        speed=speed,
        reasons=tuple(reasons),
    )


def tokens_per_param(params: float) -> float:
    """The compute-optimal training tokens per parameter for a model of `params`."""
    if params <= SMALL_PARAMS:
        return SMALL_TOKENS_PER_PARAM
    if params >= LARGE_PARAMS:
        return TOKENS_PER_PARAM
    share = math.log(params / SMALL_PARAMS) / math.log(LARGE_PARAMS / SMALL_PARAMS)
    return SMALL_TOKENS_PER_PARAM * (TOKENS_PER_PARAM / SMALL_TOKENS_PER_PARAM) ** share


def _choose(ladder: list[_Sized], train_tokens: int) -> tuple[_Sized, str]:
    """The size for the data (see the module's docstring), and why, in words."""
    data = max(train_tokens, 1)

    def optimal(s: _Sized) -> bool:
        return s.tokens >= tokens_per_param(s.params) * s.params

    if not optimal(ladder[0]):
        return ladder[0], (
            f"even the smallest model sees fewer than {tokens_per_param(ladder[0].params):.0f} "
            "tokens a parameter in this budget: a longer budget trains a better one"
        )
    # no more parameters than the train split has tokens (past that a model memorises it)
    fitting = [s for s in ladder if s.params <= data] or ladder[:1]
    chosen = [s for s in fitting if optimal(s)][-1]  # the ladder grows: the largest
    if chosen is not [s for s in ladder if optimal(s)][-1]:
        return chosen, (
            f"the train split ({data:,} tokens) feeds at most a {chosen.params / 1e6:.2f}M-"
            "parameter model here (no more parameters than it has tokens): the model is "
            f"capped there and sees it {chosen.tokens / data:.0f} times"
        )
    if chosen.tokens <= REPEAT_EPOCHS * data:
        return chosen, (
            f"the largest model that sees about {tokens_per_param(chosen.params):.0f} tokens "
            "per parameter in the budget (the compute-optimal ratio: Chinchilla's and "
            "nanochat's 20 for large models, fewer below a million parameters)"
        )
    larger = [
        s
        for s in fitting
        if s.params > chosen.params and s.tokens >= MIN_TOKENS_PER_PARAM * s.params
    ]
    if not larger:
        return chosen, (
            f"the compute-optimal model sees the train split {chosen.tokens / data:.0f} times, "
            "and no larger one fits the data (no more parameters than it has tokens, at least "
            f"{MIN_TOKENS_PER_PARAM:.0f} tokens a parameter): the budget trains it more epochs"
        )
    grown = next((s for s in larger if s.tokens <= REPEAT_EPOCHS * data), larger[-1])
    return grown, (
        f"the compute-optimal model ({chosen.params / 1e6:.2f}M parameters) would see the "
        f"train split {chosen.tokens / data:.0f} times; past {REPEAT_EPOCHS:.0f} epochs "
        "repeated tokens are worth less than new ones (Muennighoff et al. 2023), so the budget "
        f"buys a larger model that sees it {grown.tokens / data:.1f} times "
        f"({grown.tokens / grown.params:.0f} tokens a parameter)"
    )


def _kind(device: str) -> str:
    kind = device.split(":")[0]
    return kind if kind in ("cuda", "mps") else "cpu"


def _free(cfg: TrainConfig, fixed: Set[str], values: dict[str, Any]) -> TrainConfig:
    """`cfg` with `values`, except the knobs the user fixed."""
    return dataclasses.replace(cfg, **{k: v for k, v in values.items() if k not in fixed})


def _block(kind: str, train_tokens: int) -> int:
    """The device's default context, shorter for a corpus that has few windows of it."""
    block = DEFAULT_BLOCK.get(kind, 128)
    while block > 16 and train_tokens < 64 * block:
        block //= 2
    return block


def _heads(width: int) -> int:
    return max(1, width // HEAD_SIZE)


def _shapes(cfg: TrainConfig, fixed: Set[str]) -> list[tuple[int, int]]:
    """Candidate (n_layer, n_embd), smallest first; the user's depth or width kept."""
    if "n_layer" in fixed and "n_embd" in fixed:
        return [(cfg.n_layer, cfg.n_embd)]
    if "n_layer" in fixed:
        widths = range(HEAD_SIZE, 2049, HEAD_SIZE)
        return [(cfg.n_layer, w) for w in widths if 32 <= w / cfg.n_layer <= 128] or [
            (cfg.n_layer, cfg.n_embd)
        ]
    if "n_embd" in fixed:
        return [(d, cfg.n_embd) for d in range(2, 25) if 32 <= cfg.n_embd / d <= 128] or [
            (cfg.n_layer, cfg.n_embd)
        ]
    return list(CANDIDATES)


def _size(cfg: TrainConfig, vocab_size: int, speed: Speed, loop_s: float) -> _Sized:
    params = scaling_params(cfg, vocab_size)
    step = speed.seconds_per_iter(flops_per_iter(cfg, params))
    iters = max(1, int(loop_s * (1 - EVAL_SHARE) / step))
    return _Sized(cfg, params, step, iters)


def _fit_batch(
    cfg: TrainConfig,
    fixed: Set[str],
    vocab_size: int,
    kind: str,
    free: float | None,
) -> TrainConfig | None:
    """The batch halved until the memory estimate fits (None: not even the smallest)."""
    while free is not None and estimate_memory(cfg, vocab_size, kind).total_bytes > free:
        if "batch_size" in fixed or cfg.batch_size <= 1:
            return None
        cfg = dataclasses.replace(cfg, batch_size=cfg.batch_size // 2)
    return cfg


def _schedule(sized: _Sized, fixed: Set[str], loop_s: float, speed: Speed) -> _Sized:
    """Smaller batches while the run would take too few steps; then max_iters (a ceiling
    the deadline should reach first), evaluations and the warmup."""
    cfg, params = sized.cfg, sized.params  # the parameters do not depend on the batch
    while sized.iters < MIN_ITERS and "batch_size" not in fixed and cfg.batch_size > 4:
        cfg = dataclasses.replace(cfg, batch_size=cfg.batch_size // 2)
        step = speed.seconds_per_iter(flops_per_iter(cfg, params))
        sized = _Sized(cfg, params, step, max(1, int(loop_s * (1 - EVAL_SHARE) / step)))
    iters = sized.iters
    # an evaluation scores eval_iters batches of each split, forward only: a third of a step
    eval_step = sized.seconds_per_iter / 3
    eval_iters = int(EVAL_SHARE * loop_s / ((EVALUATIONS + 1) * 2 * eval_step))
    values: dict[str, Any] = {
        "max_iters": min(2 * iters + 100, 2**31 - 1),  # the deadline ends the run first
        "lr_decay_iters": min(2 * iters + 100, 2**31 - 1),
        "eval_interval": max(1, iters // EVALUATIONS),
        "eval_iters": max(2, min(eval_iters, 50)),
        "log_interval": max(1, min(10, iters // 50)),
    }
    if cfg.optimizer_name == "adamw":
        values["warmup_iters"] = min(100, iters // 20)
    return dataclasses.replace(sized, cfg=_free(cfg, fixed, values))
