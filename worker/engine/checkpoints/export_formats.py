"""The export formats and which models each can hold: no torch, so the API can refuse an
export before any job (app.store.exports) with the engine's own words (export.py)."""

from __future__ import annotations

FORMATS: tuple[str, ...] = ("hf", "safetensors", "nanogpt")
# Formats that hold only nanoGPT's GPT-2 architecture, by the name a message gives them.
GPT2_ONLY = {"hf": "Hugging Face GPT-2", "nanogpt": "nanoGPT"}


def arch_refusal(arch: str, fmt: str) -> str | None:
    """Why a model of `arch` cannot be exported as `fmt`, or None when it can."""
    if arch == "gpt2" or fmt not in GPT2_ONLY:
        return None
    return (
        f"a {arch}-arch model cannot be exported as {GPT2_ONLY[fmt]}: that format has no rotary "
        "embeddings, QK-norm, ReLU² or untied head, so the weights would mean something "
        "else there; export it as safetensors (format=safetensors), or train with "
        "arch=gpt2 for this format"
    )
