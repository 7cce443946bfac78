"""Named starting points for a run: nanoGPT's well-known recipes as plain overrides."""

from __future__ import annotations

from typing import Any

from worker.engine.config.derived import with_derived_schedule
from worker.engine.config.train_config import TrainConfig
from worker.engine.errors import ConfigError

# nanoGPT's config/train_shakespeare_char.py: a baby GPT for a GPU.
_SHAKESPEARE_CHAR: dict[str, Any] = {
    "eval_interval": 250,
    "eval_iters": 200,
    "log_interval": 10,
    "always_save_checkpoint": False,
    "gradient_accumulation_steps": 1,
    "batch_size": 64,
    "block_size": 256,
    "n_layer": 6,
    "n_head": 6,
    "n_embd": 384,
    "dropout": 0.2,
    "learning_rate": 1e-3,
    "max_iters": 5000,
    "lr_decay_iters": 5000,
    "min_lr": 1e-4,
    "beta2": 0.99,
    "warmup_iters": 100,
}

PRESETS: dict[str, dict[str, Any]] = {
    # nanoGPT README's CPU recipe on top of the Shakespeare-char config.
    "tiny-cpu": {
        **_SHAKESPEARE_CHAR,
        "device": "cpu",
        "compile": False,
        "eval_iters": 20,
        "log_interval": 1,
        "block_size": 64,
        "batch_size": 12,
        "n_layer": 4,
        "n_head": 4,
        "n_embd": 128,
        "max_iters": 2000,
        "lr_decay_iters": 2000,
        "dropout": 0.0,
    },
    "shakespeare-char": dict(_SHAKESPEARE_CHAR),
    # nanoGPT's train.py defaults: GPT-2 124M from scratch (gradient accumulation for one GPU).
    "gpt2-small": {"gradient_accumulation_steps": 40},
    # nanoGPT's config/finetune_shakespeare.py, from GPT-2 124M (nanoGPT's file uses gpt2-xl):
    # a few small steps at a low, constant learning rate.
    "finetune-gpt2": {
        "init_from": "gpt2",
        "eval_interval": 5,
        "eval_iters": 40,
        "always_save_checkpoint": False,
        "batch_size": 1,
        "gradient_accumulation_steps": 32,
        "max_iters": 20,
        "learning_rate": 3e-5,
        "decay_lr": False,
        "min_lr": 3e-6,  # unused without decay, but must stay below learning_rate
    },
}

# The modern recipe (modern_model.py, optimizers.py) on each size: Muon at nanochat's
# matrix rate, no warmup to speak of, no weight decay or clipping (QK-norm and the logit cap
# keep it stable), decayed to a tenth. Measured in docs/benchmarks.md.
_FAST: dict[str, Any] = {
    "arch": "modern",
    "optimizer": "muon",
    "bias": False,
    "learning_rate": 0.02,
    "min_lr": 0.002,
    "warmup_iters": 0,
    "weight_decay": 0.0,
    "grad_clip": 0.0,
}
PRESETS["tiny-cpu-fast"] = {**PRESETS["tiny-cpu"], **_FAST}
PRESETS["shakespeare-char-fast"] = {**PRESETS["shakespeare-char"], **_FAST}
PRESETS["gpt2-small-fast"] = {**PRESETS["gpt2-small"], **_FAST}

PRESET_DESCRIPTIONS: dict[str, str] = {
    "tiny-cpu": "4 layers × 128 dims, block 64: trains on a laptop CPU in minutes",
    "shakespeare-char": "nanoGPT's Shakespeare-char GPU model: 6 layers × 384 dims, block 256",
    "gpt2-small": "GPT-2 124M from scratch: 12 layers × 768 dims, block 1024",
    "finetune-gpt2": "fine-tune OpenAI's GPT-2 124M on GPT-2-tokenized data: 20 steps at lr 3e-5",
    "tiny-cpu-fast": "tiny-cpu's size with the modern recipe (rotary, QK-norm, ReLU², Muon)",
    "shakespeare-char-fast": "shakespeare-char's size with the modern recipe and Muon",
    "gpt2-small-fast": "GPT-2 124M's size with the modern recipe and Muon",
}


def preset_config(name: str, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """A config from a named preset with the user's overrides applied on top, the schedule
    knobs they leave unset following their max_iters (derived.py)."""
    if name not in PRESETS:
        choices = ", ".join(sorted(PRESETS))
        raise ConfigError(f"unknown preset {name!r}; choose one of {choices}", field="preset")
    return with_derived_schedule(TrainConfig.from_mapping(PRESETS[name]), overrides or {})
