"""The training config: every knob of nanoGPT's train.py, typed, read from plain data only.

Defaults are nanoGPT's train.py defaults (GPT-2 124M on OpenWebText), so a `--key=value`
means what it means there. Config files are TOML, JSON or nanoGPT's .py files; all are parsed,
never executed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from worker.engine.errors import ConfigError

# ... or a folder holding a GPT-2 in Hugging Face layout (see hf_source.py)
INIT_FROM_CHOICES = ("scratch", "resume", "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")

OPTIMIZER_CHOICES = ("auto", "adamw", "muon")  # auto: muon for modern, adamw for gpt2

# cosine: nanoGPT's warmup + cosine decay to lr_decay_iters; wsd: warmup, stable, then a
# linear warmdown over the last part of the run (by iterations, or by time with a time budget)
LR_SCHEDULE_CHOICES = ("cosine", "wsd")
MAX_TIME_BUDGET_S = 30 * 24 * 3600.0  # a month: longer is surely a mistake

INT32_MAX = 2**31 - 1  # iteration counts are stored in 32-bit database columns
# The largest value of each integer knob: what the engine and the database can hold, and loop
# counts a run can still be stopped in the middle of (checked by preflight, with the rest).
INT_MAXIMA: dict[str, int] = {
    "eval_interval": INT32_MAX,
    "log_interval": INT32_MAX,
    "eval_iters": 10_000,
    "gradient_accumulation_steps": 65_536,
    "batch_size": 65_536,
    "block_size": 16_777_216,
    "n_layer": 1_024,
    "n_head": 1_024,
    "n_embd": 65_536,
    "max_iters": INT32_MAX,
    "warmup_iters": INT32_MAX,
    "lr_decay_iters": INT32_MAX,
    "seed": 2**63 - 1,
    "early_stop_patience": INT32_MAX,
}


@dataclass
class TrainConfig:
    # I/O
    data_dir: str = ""
    out_dir: str = "out"
    eval_interval: int = 2000
    log_interval: int = 1
    eval_iters: int = 200
    eval_only: bool = False
    always_save_checkpoint: bool = True
    init_from: str = "scratch"
    # Early stopping (not in nanoGPT): stop, as finished, after this many evaluations in a row
    # without a val-loss improvement of at least early_stop_min_delta; 0 turns it off.
    early_stop_patience: int = 0
    early_stop_min_delta: float = 0.0
    # Weights & Biases, as nanoGPT offers; used only when wandb is installed.
    wandb_log: bool = False
    wandb_project: str = "nanogpt-studio"
    wandb_run_name: str = "run"
    # data
    gradient_accumulation_steps: int = 40
    batch_size: int = 12
    block_size: int = 1024
    # model
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = False
    arch: str = "gpt2"
    # optimizer: AdamW, or Muon for the hidden matrices + AdamW for the rest (optimizers.py)
    optimizer: str = "auto"
    learning_rate: float = 6e-4
    max_iters: int = 600000
    weight_decay: float = 1e-1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    # learning-rate schedule
    decay_lr: bool = True
    warmup_iters: int = 2000
    lr_decay_iters: int = 600000
    min_lr: float = 6e-5
    lr_schedule: str = "cosine"
    # Wall-time budget of the training loop in seconds (0: none). The run ends when it is
    # spent (or at max_iters), and a wsd schedule's progress is the larger of the iteration's
    # and the time's, so the warmdown ends at the deadline even if the speed drifts.
    time_budget_s: float = 0.0
    # system
    seed: int = 1337
    device: str = "auto"
    dtype: str = "auto"
    compile: bool | str = "auto"
    # Extra fields the service sets; never changes the math.
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_mapping(
        cls, values: Mapping[str, Any], *, base: TrainConfig | None = None, strict: bool = False
    ) -> TrainConfig:
        """Build a config from plain data, refusing unknown keys and values of the wrong type.
        `strict` (typed input: a JSON body) refuses text for a number or a boolean, and a
        float for an integer; without it, "2" and "true" are read (the command line's
        `--n_layer=2`)."""
        known = {f.name: f for f in fields(cls)}
        updates: dict[str, Any] = {}
        for key, raw in values.items():
            if key not in known:
                raise ConfigError(f"unknown setting {key!r}", field=key)
            if strict:
                _check_json_type(key, str(known[key].type), raw)
            updates[key] = _coerce(key, known[key].type, raw)
        return dataclasses.replace(base or cls(), **updates)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def model_args(self, vocab_size: int) -> dict[str, Any]:
        """The keys nanoGPT stores as `model_args` in a checkpoint (plus `arch` for a
        modern model; a gpt2 one has exactly nanoGPT's keys, so nanoGPT reads it)."""
        args: dict[str, Any] = {
            "n_layer": self.n_layer,
            "n_head": self.n_head,
            "n_embd": self.n_embd,
            "block_size": self.block_size,
            "bias": self.bias,
            "vocab_size": vocab_size,
            "dropout": self.dropout,
        }
        if self.arch != "gpt2":
            args["arch"] = self.arch
        return args

    @property
    def optimizer_name(self) -> str:
        """The optimizer `auto` stands for: Muon with the modern arch, AdamW with gpt2."""
        if self.optimizer == "auto":
            return "muon" if self.arch == "modern" else "adamw"
        return self.optimizer

    @property
    def tokens_per_iter(self) -> int:
        return self.gradient_accumulation_steps * self.batch_size * self.block_size


def _shown(raw: Any) -> str:
    """A value as an error message quotes it: never a screenful."""
    text = repr(raw)
    return text if len(text) <= 40 else text[:37] + "..."


_JSON_KINDS = {"int": "an integer", "float": "a number", "bool": "true or false"}


def _check_json_type(name: str, type_name: str, raw: Any) -> None:
    """A typed value must already be of its field's JSON type (see from_mapping)."""
    kind = _JSON_KINDS.get(type_name)
    if kind is None:
        return
    if isinstance(raw, str) or (type_name == "int" and isinstance(raw, float)):
        raise ConfigError(f"{name} must be {kind}, got {_shown(raw)}", field=name)


def _coerce(name: str, type_name: Any, raw: Any) -> Any:
    """Convert a value from TOML, JSON or a command line to the field's type, or say why not."""
    type_name = str(type_name)
    if name == "compile":
        if isinstance(raw, str) and raw.lower() in ("auto", "true", "false"):
            return {"auto": "auto", "true": True, "false": False}[raw.lower()]
        if isinstance(raw, bool):
            return raw
        raise ConfigError("compile must be true, false or 'auto'", field=name)
    if type_name == "bool":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false", "1", "0"):
            return raw.lower() in ("true", "1")
        raise ConfigError(f"{name} must be true or false, got {_shown(raw)}", field=name)
    if type_name == "int":
        if isinstance(raw, bool):
            raise ConfigError(f"{name} must be an integer, got {_shown(raw)}", field=name)
        if isinstance(raw, int):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if isinstance(raw, str):
            try:
                return int(raw)
            except ValueError:
                pass
            try:
                number = float(raw)
            except ValueError:
                number = math.nan
            if number.is_integer():  # "1e3"
                return int(number)
        raise ConfigError(f"{name} must be an integer, got {_shown(raw)}", field=name)
    if type_name == "float":
        if isinstance(raw, bool):
            raise ConfigError(f"{name} must be a number, got {_shown(raw)}", field=name)
        number = math.nan
        if isinstance(raw, int | float):
            number = float(raw) if abs(raw) <= 1e308 else math.inf
        elif isinstance(raw, str):
            try:
                number = float(raw)
            except ValueError:
                message = f"{name} must be a number, got {_shown(raw)}"
                raise ConfigError(message, field=name) from None
        else:
            raise ConfigError(f"{name} must be a number, got {_shown(raw)}", field=name)
        if not math.isfinite(number):
            raise ConfigError(f"{name} must be a finite number, got {_shown(raw)}", field=name)
        return number
    if type_name == "str":
        if isinstance(raw, str):
            return raw
        raise ConfigError(f"{name} must be a string, got {_shown(raw)}", field=name)
    if type_name.startswith("dict"):
        if isinstance(raw, dict):
            return {str(k): str(v) for k, v in raw.items()}
        raise ConfigError(f"{name} must be a table of strings", field=name)
    raise AssertionError(f"unhandled config type {type_name} for {name}")


def parse_overrides(args: list[str]) -> dict[str, str]:
    """Parse nanoGPT-style `--key=value` arguments into raw strings (typed later)."""
    out: dict[str, str] = {}
    for arg in args:
        if not arg.startswith("--") or "=" not in arg:
            raise ConfigError(f"expected --key=value, got {arg!r}", field=arg.lstrip("-") or None)
        key, value = arg[2:].split("=", 1)
        out[key] = value
    return out
