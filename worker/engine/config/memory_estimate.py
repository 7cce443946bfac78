"""How much memory a training run needs at its peak, from its config alone (no torch).

The service compares it with the free memory of the device the run would use, before the
run is queued (preflight's memory guard); `bench/memory_estimate.py` measures how close it
comes (docs/benchmarks.md). Per rank: every data-parallel rank holds a full copy of the model,
its gradients and optimizer state, and its own micro-batch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from worker.engine.checkpoints.hf_source import CONFIG_FILE, GPT2_VOCAB, read_config
from worker.engine.config.train_config import TrainConfig

# GPT-2's shapes (n_layer, n_head, n_embd), as nanoGPT's from_pretrained builds them.
GPT2_SHAPES: dict[str, tuple[int, int, int]] = {
    "gpt2": (12, 12, 768),
    "gpt2-medium": (24, 16, 1024),
    "gpt2-large": (36, 20, 1280),
    "gpt2-xl": (48, 25, 1600),
}
# fp32 weights (4) + their gradients (4) + AdamW's two moments (8), per parameter.
STATE_BYTES_PER_PARAM = 16
# What the process costs before the model's tensors: on a CPU, torch's libraries with the data
# opened (220 MiB peak RSS measured by bench/memory_estimate.py) and ~100 MiB of scratch every
# run needed there; on a GPU, the CUDA context and kernels (not measured here: no GPU).
RUNTIME_BYTES = {"cpu": 320 * 2**20, "cuda": 600 * 2**20, "mps": 320 * 2**20}
# Korthikanti's count is what the backward pass keeps; at the peak there are also the
# activations' own gradients in flight and the allocator's slack: measured 1.3x on a CPU
# (bench/memory_estimate.py, five shapes within 4% with this), assumed the same on a GPU.
ACTIVATION_SLACK = 1.3
# The math attention kernel (used on a CPU up to this block size, see device.py) keeps the
# T x T attention matrix of every head and layer for the backward pass.
MATH_ATTENTION_MAX_BLOCK = 256


@dataclass(frozen=True)
class Shape:
    n_layer: int
    n_head: int
    n_embd: int
    block_size: int
    bias: bool
    vocab_size: int
    arch: str = "gpt2"


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes one rank needs at its peak, by part, and the model it was made for."""

    params: int
    non_embedding_params: int  # as the model's num_params() reports it (nanoGPT's count)
    vocab_size: int  # the vocabulary the model has: the run's, or GPT-2's for a fine-tune
    state_bytes: int  # weights, gradients, AdamW moments
    activation_bytes: int  # one micro-batch's saved activations and its logits
    runtime_bytes: int  # the process itself

    @property
    def total_bytes(self) -> int:
        return self.state_bytes + self.activation_bytes + self.runtime_bytes


def model_shape(cfg: TrainConfig, vocab_size: int) -> Shape:
    """The shape the run trains: its own, or GPT-2's (vocabulary too) when it fine-tunes it."""
    dims = GPT2_SHAPES.get(cfg.init_from)
    if dims is None and cfg.init_from not in ("scratch", "resume"):
        folder = Path(cfg.init_from)
        if (folder / CONFIG_FILE).is_file():
            hf = read_config(folder)
            dims = (int(hf["n_layer"]), int(hf["n_head"]), int(hf["n_embd"]))
    if dims is None:
        return Shape(
            cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.block_size, cfg.bias, vocab_size, cfg.arch
        )
    return Shape(*dims, block_size=cfg.block_size, bias=True, vocab_size=GPT2_VOCAB)


def parameter_count(shape: Shape, *, non_embedding: bool = False) -> int:
    """Exactly what the model holds, as torch counts it; `non_embedding` leaves out what the
    model's num_params() leaves out by default.

    The gpt2 arch ties its embedding and head, learns positions and has biases and LayerNorm
    weights (non_embedding: without the positions, as nanoGPT counts); the modern arch has an
    untied head, rotary positions, no biases and parameter-free norms (non_embedding: without
    the token embedding, a lookup)."""
    c, v = shape.n_embd, shape.vocab_size
    if shape.arch == "modern":
        total = 2 * v * c + shape.n_layer * 12 * c * c
        return total - v * c if non_embedding else total
    bias = shape.bias
    per_layer = 12 * c * c + 2 * c + (11 * c if bias else 0)  # attention, MLP, two LayerNorms
    positions = shape.block_size * c
    total = v * c + positions + shape.n_layer * per_layer + c + (c if bias else 0)
    return total - positions if non_embedding else total


def activation_width(cfg: TrainConfig, device_kind: str) -> int:
    """Bytes per saved activation: 16-bit autocast on a GPU, float32 on a CPU (bf16 autocast
    there keeps many float32 copies, so 4 is the safe figure)."""
    if cfg.dtype == "float32" or (device_kind != "cuda" and cfg.dtype == "auto"):
        return 4
    return 2


def estimate_memory(cfg: TrainConfig, vocab_size: int, device_kind: str) -> MemoryEstimate:
    """Peak bytes of one rank training `cfg` on a `device_kind` (cpu, cuda, mps) device.

    Weights, gradients and AdamW state in fp32 (16 bytes a parameter); one micro-batch's
    activations after Korthikanti et al. 2022 (34·B·T·C bytes a layer at 16 bits with flash
    attention: 17 values per token and channel), plus the attention matrices where the math
    kernel runs, and the logits (their 16-bit values, a float32 copy for the loss and its
    gradient).
    """
    shape = model_shape(cfg, vocab_size)
    params = parameter_count(shape)
    width = activation_width(cfg, device_kind)
    b, t, c = cfg.batch_size, shape.block_size, shape.n_embd
    per_layer = 17 * b * t * c * width
    if device_kind == "cpu" and t <= MATH_ATTENTION_MAX_BLOCK:
        per_layer += 2 * b * shape.n_head * t * t * width  # scores and their softmax
    logits = b * t * shape.vocab_size * (width + 8)
    activations = int(
        ACTIVATION_SLACK * (shape.n_layer * per_layer + logits + 4 * b * t * c * width)
    )
    return MemoryEstimate(
        params=params,
        non_embedding_params=parameter_count(shape, non_embedding=True),
        vocab_size=shape.vocab_size,
        state_bytes=params * STATE_BYTES_PER_PARAM,
        activation_bytes=activations,
        runtime_bytes=RUNTIME_BYTES.get(device_kind, RUNTIME_BYTES["cpu"]),
    )


def largest_batch_that_fits(
    cfg: TrainConfig, vocab_size: int, device_kind: str, budget_bytes: int
) -> int:
    """The largest batch_size (at most cfg's) whose estimate stays within `budget_bytes`; 0
    when not even one sequence fits. The estimate grows with batch_size, so bisect."""

    def fits(batch: int) -> bool:
        trial = replace(cfg, batch_size=batch)
        return estimate_memory(trial, vocab_size, device_kind).total_bytes <= budget_bytes

    low, high = 0, cfg.batch_size  # fits(low) holds (0 is "none"), fits(high + 1) is unknown
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def largest_depth_that_fits(
    cfg: TrainConfig, vocab_size: int, device_kind: str, budget_bytes: int
) -> int:
    """With batch_size 1: the most layers (at most cfg's) that fit; 0 when none do."""
    one = replace(cfg, batch_size=1)
    for layers in range(cfg.n_layer, 0, -1):
        trial = replace(one, n_layer=layers)
        if estimate_memory(trial, vocab_size, device_kind).total_bytes <= budget_bytes:
            return layers
    return 0
