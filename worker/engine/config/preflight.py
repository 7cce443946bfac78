"""Checks a run's config against itself and its data before any work starts.

Every problem names the field at fault, so the CLI, the API (422) and the form can point at it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from worker.engine.checkpoints.hf_source import check_folder, is_pretrained, known_context
from worker.engine.config.train_config import (
    INIT_FROM_CHOICES,
    INT_MAXIMA,
    LR_SCHEDULE_CHOICES,
    MAX_TIME_BUDGET_S,
    OPTIMIZER_CHOICES,
    TrainConfig,
)
from worker.engine.data.prepare import read_meta
from worker.engine.errors import ConfigError, DataError, EngineError
from worker.engine.model.archs import ARCH_CHOICES

POSITIVE_INTS = (
    "batch_size", "block_size", "n_layer", "n_head", "n_embd", "gradient_accumulation_steps",
    "eval_interval", "eval_iters", "log_interval", "max_iters",
)  # fmt: skip
# Model shape the checkpoint fixes; a resume must not silently change it.
SHAPE_FIELDS = ("n_layer", "n_head", "n_embd", "block_size", "bias")


def preflight(cfg: TrainConfig, meta: Mapping[str, Any] | None = None) -> None:
    """Raise the first problem found, or return when the run can start."""
    problems = find_problems(cfg, meta)
    if problems:
        raise problems[0]


def find_problems(cfg: TrainConfig, meta: Mapping[str, Any] | None = None) -> list[EngineError]:
    """Every problem with the config, its data and (on resume) its checkpoint."""
    problems: list[EngineError] = list(_config_problems(cfg))
    if meta is None and cfg.data_dir:
        meta = read_meta(cfg.data_dir)
    if meta is not None:
        problems.extend(_data_problems(cfg, meta))
        if cfg.init_from == "resume" and not problems:
            problems.extend(_resume_problems(cfg, meta))
    return problems


def _config_problems(cfg: TrainConfig) -> list[EngineError]:
    out: list[EngineError] = []
    for name in POSITIVE_INTS:
        if getattr(cfg, name) < 1:
            out.append(ConfigError(f"{name} must be at least 1", field=name))
    for name, most in INT_MAXIMA.items():
        if getattr(cfg, name) > most:
            out.append(ConfigError(f"{name} must be at most {most:,}", field=name))
    for name in ("max_iters", "lr_decay_iters", "seed"):
        if getattr(cfg, name) < 0:
            out.append(ConfigError(f"{name} must not be negative", field=name))
    if cfg.n_head >= 1 and cfg.n_embd % cfg.n_head:
        out.append(
            ConfigError(
                f"n_embd ({cfg.n_embd}) must be divisible by n_head ({cfg.n_head}) so every "
                "head gets the same width",
                field="n_embd",
            )
        )
    if not 0.0 <= cfg.dropout < 1.0:
        out.append(ConfigError("dropout must be at least 0 and below 1", field="dropout"))
    if cfg.learning_rate <= 0:
        out.append(ConfigError("learning_rate must be above 0", field="learning_rate"))
    if cfg.min_lr < 0:  # above learning_rate is allowed: a warning (config_warnings.py)
        out.append(ConfigError("min_lr must not be negative", field="min_lr"))
    for name in ("beta1", "beta2"):
        if not 0.0 <= getattr(cfg, name) < 1.0:
            out.append(ConfigError(f"{name} must be at least 0 and below 1", field=name))
    if cfg.weight_decay < 0:
        out.append(ConfigError("weight_decay must not be negative", field="weight_decay"))
    if cfg.grad_clip < 0:
        out.append(
            ConfigError("grad_clip must not be negative (0 turns it off)", field="grad_clip")
        )
    if cfg.early_stop_patience < 0:
        out.append(
            ConfigError(
                "early_stop_patience must not be negative (0 turns it off)",
                field="early_stop_patience",
            )
        )
    if cfg.early_stop_min_delta < 0:
        out.append(
            ConfigError("early_stop_min_delta must not be negative", field="early_stop_min_delta")
        )
    if cfg.warmup_iters < 0:
        out.append(ConfigError("warmup_iters must not be negative", field="warmup_iters"))
    out.extend(_schedule_problems(cfg))
    if cfg.decay_lr and cfg.lr_schedule == "cosine" and cfg.lr_decay_iters <= cfg.warmup_iters:
        out.append(
            ConfigError(
                f"lr_decay_iters ({cfg.lr_decay_iters}) must be greater than warmup_iters "
                f"({cfg.warmup_iters}): the cosine decay starts where the warmup ends",
                field="lr_decay_iters",
            )
        )
    if cfg.init_from not in INIT_FROM_CHOICES:
        try:
            check_folder(cfg.init_from)  # a Hugging Face GPT-2 folder is the one other choice
        except ConfigError as exc:
            out.append(exc)
        else:
            out.extend(_context_problems(cfg))
    elif is_pretrained(cfg.init_from):
        out.extend(_context_problems(cfg))
    device_kind = cfg.device.split(":")[0]
    if device_kind not in ("auto", "cpu", "cuda", "mps"):
        out.append(ConfigError("device must be auto, cpu, cuda, cuda:N or mps", field="device"))
    if cfg.dtype not in ("auto", "float32", "bfloat16", "float16"):
        out.append(ConfigError("dtype must be auto, float32, bfloat16 or float16", field="dtype"))
    out.extend(_arch_problems(cfg))
    return out


def _schedule_problems(cfg: TrainConfig) -> list[EngineError]:
    out: list[EngineError] = []
    if cfg.lr_schedule not in LR_SCHEDULE_CHOICES:
        choices = " or ".join(LR_SCHEDULE_CHOICES)
        message = f"lr_schedule must be {choices}, got {cfg.lr_schedule!r}"
        out.append(ConfigError(message, field="lr_schedule"))
    if not 0.0 <= cfg.time_budget_s <= MAX_TIME_BUDGET_S:
        out.append(
            ConfigError(
                f"time_budget_s must be between 0 (none) and {MAX_TIME_BUDGET_S:,.0f} seconds",
                field="time_budget_s",
            )
        )
    return out


def _arch_problems(cfg: TrainConfig) -> list[EngineError]:
    out: list[EngineError] = []
    if cfg.arch not in ARCH_CHOICES:
        choices = " or ".join(ARCH_CHOICES)
        out.append(ConfigError(f"arch must be {choices}, got {cfg.arch!r}", field="arch"))
    if cfg.optimizer not in OPTIMIZER_CHOICES:
        choices = ", ".join(OPTIMIZER_CHOICES)
        message = f"optimizer must be one of {choices}, got {cfg.optimizer!r}"
        out.append(ConfigError(message, field="optimizer"))
    if cfg.arch != "modern":
        return out
    if cfg.bias:
        out.append(ConfigError("the modern arch has no biases: set bias to false", field="bias"))
    if cfg.init_from not in ("scratch", "resume"):
        out.append(
            ConfigError(
                "GPT-2's weights are the gpt2 arch; fine-tune them with arch=gpt2, or train the "
                "modern arch from scratch",
                field="arch",
            )
        )
    if cfg.n_head >= 1 and cfg.n_embd % cfg.n_head == 0 and (cfg.n_embd // cfg.n_head) % 2:
        out.append(
            ConfigError(
                f"the modern arch's rotary embeddings need an even head size; n_embd / n_head "
                f"is {cfg.n_embd // cfg.n_head}",
                field="n_head",
            )
        )
    return out


def _context_problems(cfg: TrainConfig) -> list[EngineError]:
    """GPT-2 weights know block_size positions at most; fewer is fine (they are cropped)."""
    try:
        context = known_context(cfg.init_from)
    except ConfigError as exc:  # an unreadable config.json
        return [exc]
    if context is not None and cfg.block_size > context:
        return [
            ConfigError(
                f"block_size {cfg.block_size} is longer than the {context} positions "
                f"{cfg.init_from} was trained with; use block_size {context} or less",
                field="block_size",
            )
        ]
    return []


def _data_problems(cfg: TrainConfig, meta: Mapping[str, Any]) -> list[EngineError]:
    out: list[EngineError] = []
    kind = (meta.get("tokenizer") or {}).get("kind")
    if is_pretrained(cfg.init_from) and kind != "gpt2":
        # the weights only understand GPT-2's token ids, so the data must be in them
        out.append(
            DataError(
                f"init_from={cfg.init_from!r} fine-tunes GPT-2, which reads GPT-2 tokens, but "
                f"this data was prepared with the {kind} tokenizer; prepare it with the gpt2 "
                "tokenizer, or train from scratch",
                field="tokenizer",
            )
        )
    sizes = {split: int(meta.get(f"{split}_tokens", 0)) for split in ("train", "val")}
    short = [split for split, tokens in sizes.items() if tokens <= cfg.block_size]
    if short:
        # A window needs block_size inputs plus one more token as the last target, in both
        # splits, so the advice is the largest block_size that fits the smaller one.
        fits = min(sizes.values()) - 1
        advice = (
            f"the largest block_size that fits both splits is {fits}"
            if fits >= 1
            else "the data is too small for any block_size; upload more text"
        )
        names = {"train": "training", "val": "validation"}
        which = " and ".join(f"the {names[s]} split has {sizes[s]:,}" for s in short)
        out.append(
            DataError(
                f"block_size {cfg.block_size:,} needs more than {cfg.block_size:,} tokens in "
                f"each split, but {which}; {advice}",
                field="block_size",
            )
        )
    return out


def _resume_problems(cfg: TrainConfig, meta: Mapping[str, Any]) -> list[EngineError]:
    # torch is imported only here: the API runs preflight on every new run and stays light
    from worker.engine.checkpoints.files import LATEST, load_checkpoint

    path = Path(cfg.out_dir) / LATEST
    if not path.is_file():
        return [ConfigError(f"cannot resume: no checkpoint at {path}", field="init_from")]
    checkpoint = load_checkpoint(path)
    out: list[EngineError] = []
    saved_tokenizer = checkpoint.get("tokenizer")
    if saved_tokenizer is not None and saved_tokenizer != meta.get("tokenizer"):
        out.append(
            DataError(
                "cannot resume: the checkpoint was trained with a different tokenizer or "
                "vocabulary than this data was prepared with",
                field="data_dir",
            )
        )
    # a fine-tune's shape came from its GPT-2 weights, not from these settings
    from_weights = is_pretrained(str(checkpoint["config"].get("init_from", "scratch")))
    saved_config = checkpoint["config"]
    saved_arch = str(checkpoint["model_args"].get("arch", "gpt2"))
    if saved_arch != cfg.arch:
        out.append(
            ConfigError(
                f"cannot resume with arch={cfg.arch}: the checkpoint is a {saved_arch} model",
                field="arch",
            )
        )
    elif "optimizer" in saved_config:  # a checkpoint from before the knob used AdamW
        saved_optimizer = TrainConfig.from_mapping(
            {"arch": saved_arch, "optimizer": saved_config["optimizer"]}
        ).optimizer_name
        if saved_optimizer != cfg.optimizer_name:
            out.append(
                ConfigError(
                    f"cannot resume with optimizer={cfg.optimizer_name}: the checkpoint's "
                    f"optimizer state is {saved_optimizer}'s",
                    field="optimizer",
                )
            )
    for name in ("block_size",) if from_weights else SHAPE_FIELDS:
        saved = checkpoint["model_args"][name]
        if saved != getattr(cfg, name):
            out.append(
                ConfigError(
                    f"cannot resume with {name}={getattr(cfg, name)}: the checkpoint was "
                    f"trained with {name}={saved}",
                    field=name,
                )
            )
    return out
