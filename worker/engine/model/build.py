"""Which model a checkpoint's model_args build: nanoGPT's GPT (`gpt2`) or the modern one.

A gpt2 model's model_args carry no `arch` key at all, exactly as nanoGPT writes them (its
sample.py passes model_args straight to its GPTConfig, which would refuse one); a modern
model's carry `arch: "modern"`.
"""

from __future__ import annotations

from typing import Any

from worker.engine.model.archs import ARCH_CHOICES
from worker.engine.model.gpt import GPT, GPTConfig
from worker.engine.model.modern import ModernGPT

AnyGPT = GPT | ModernGPT


def model_arch(model_args: dict[str, Any]) -> str:
    return str(model_args.get("arch", "gpt2"))


def build_model(model_args: dict[str, Any]) -> AnyGPT:
    """A freshly initialised model of model_args' arch and shape."""
    arch = model_arch(model_args)
    assert arch in ARCH_CHOICES, f"unknown arch {arch!r}"
    config = GPTConfig(**{k: v for k, v in model_args.items() if k != "arch"})
    return ModernGPT(config) if arch == "modern" else GPT(config)
