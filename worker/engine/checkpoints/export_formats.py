"""The export formats and which models each can hold: no torch, so the API can refuse an
export before any job (app.store.exports) with the engine's own words (export.py)."""

from __future__ import annotations

from typing import Literal, get_args

# gguf: llama.cpp's file in f32; gguf-f16 and gguf-q8_0 its smaller types (gguf_export.py)
Format = Literal["hf", "safetensors", "nanogpt", "gguf", "gguf-f16", "gguf-q8_0"]
FORMATS: tuple[str, ...] = get_args(Format)
GGUF_FORMATS: tuple[str, ...] = tuple(f for f in FORMATS if f.startswith("gguf"))
# Formats that hold only nanoGPT's GPT-2 architecture: what each lacks for another arch.
# ("hf" holds the modern arch too, with its own modeling code shipped in the export.)
_NANOGPT_LACKS = "nanoGPT's model.py has no rotary embeddings, QK-norm, ReLU² or untied head"
_GGUF_LACKS = (
    "llama.cpp has no architecture with this model's mix (RMSNorm without a scale, QK-norm, "
    "a ReLU² MLP and soft-capped logits), so the weights would mean something else there"
)
GPT2_ONLY = {
    "nanogpt": ("nanoGPT", _NANOGPT_LACKS),
    **dict.fromkeys(GGUF_FORMATS, ("GGUF", _GGUF_LACKS)),
}


def arch_refusal(arch: str, fmt: str) -> str | None:
    """Why a model of `arch` cannot be exported as `fmt`, or None when it can."""
    if arch == "gpt2" or fmt not in GPT2_ONLY:
        return None
    name, lacks = GPT2_ONLY[fmt]
    return (
        f"a {arch}-arch model cannot be exported as {name}: {lacks}; export it as hf (with "
        "its modeling code) or safetensors, or train with arch=gpt2 for this format"
    )
