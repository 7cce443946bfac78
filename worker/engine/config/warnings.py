"""Settings that are allowed but probably not meant: the run starts, so these are warnings,
not errors: the API lists them in its answer (refuses the run only with `strict`), the form
asks first ("Start anyway"), the CLI prints them and goes on, as nanoGPT would."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from worker.engine.config.train_config import TrainConfig


@dataclass(frozen=True)
class ConfigWarning:
    code: str  # what kind of warning: "schedule", "memory"
    field: str  # the knob to look at
    message: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def schedule_warnings(cfg: TrainConfig) -> list[ConfigWarning]:
    """The learning-rate schedule and evaluation plan against the run's length."""
    out: list[ConfigWarning] = []

    def warn(field: str, message: str) -> None:
        out.append(ConfigWarning("schedule", field, message))

    if cfg.eval_only:
        return out  # one evaluation and no training: the schedule never runs
    if cfg.decay_lr and cfg.warmup_iters >= cfg.max_iters:
        warn(
            "warmup_iters",
            f"warmup_iters ({cfg.warmup_iters:,}) is not below max_iters ({cfg.max_iters:,}): "
            "the learning rate never reaches its peak; lower warmup_iters",
        )
    if cfg.decay_lr and cfg.lr_schedule == "cosine" and cfg.lr_decay_iters != cfg.max_iters:
        if cfg.lr_decay_iters > cfg.max_iters:
            what = "the learning rate stops before it has decayed to min_lr"
        else:
            what = f"the last {cfg.max_iters - cfg.lr_decay_iters:,} iterations run at min_lr"
        warn(
            "lr_decay_iters",
            f"lr_decay_iters ({cfg.lr_decay_iters:,}) differs from max_iters "
            f"({cfg.max_iters:,}): {what}; nanoGPT's recipes set them equal",
        )
    if cfg.eval_interval > cfg.max_iters:
        warn(
            "eval_interval",
            f"eval_interval ({cfg.eval_interval:,}) is longer than the run "
            f"({cfg.max_iters:,} iterations): val loss is measured only at the start and the "
            "end, and no checkpoint is written before the end",
        )
    if cfg.decay_lr and cfg.min_lr > cfg.learning_rate:
        warn(
            "min_lr",
            f"min_lr ({cfg.min_lr:g}) is above learning_rate ({cfg.learning_rate:g}): the "
            '"decay" raises the learning rate',
        )
    return out
