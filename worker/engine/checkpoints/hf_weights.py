"""GPT-2 weights between Hugging Face's layout and ours (nanoGPT's names), both ways.

The two layouts hold the same numbers under nearly the same names. Differences:
- Hugging Face's GPT-2 uses Conv1D, which stores a (in, out) matrix where nn.Linear stores
  (out, in): four weights per block are transposed (attn.c_attn, attn.c_proj, mlp.c_fc,
  mlp.c_proj).
- Its files may carry the causal-mask buffers attn.bias and attn.masked_bias: not weights.
- The LM head is tied to the token embedding, so lm_head.weight is left out or equals wte.
- Hugging Face's GPT-2 always has biases; a bias=False model of ours exports zeros there.
"""

from __future__ import annotations

import json
import math
from typing import Any

import torch

from worker.engine.checkpoints.hf_source import (
    GPT2_VOCAB,
    PICKLE_FILE,
    SAFETENSORS_FILE,
    SAFETENSORS_INDEX,
    HFSource,
)
from worker.engine.errors import ConfigError
from worker.engine.model.gpt import GPT, GPTConfig

# Conv1D weights: (in, out) on the Hugging Face side, (out, in) on ours.
TRANSPOSED = (
    ".attn.c_attn.weight",
    ".attn.c_proj.weight",
    ".mlp.c_fc.weight",
    ".mlp.c_proj.weight",
)
# Buffers some GPT-2 files carry (the causal mask); nothing to load.
MASK_BUFFERS = (".attn.bias", ".attn.masked_bias")  # not ".attn.c_attn.bias"
HF_PREFIX = "transformer."
HEAD = "lm_head.weight"
# Hugging Face names for GELU; all are GELU up to the tanh approximation (see below).
GELU_NAMES = ("gelu", "gelu_new", "gelu_fast", "gelu_pytorch_tanh", "gelu_accurate")


def model_args_from_hf_config(config: dict[str, Any], *, where: str) -> dict[str, Any]:
    """nanoGPT's model_args for a Hugging Face GPT-2 config, refusing what we cannot run.

    GPT-2 itself uses the tanh approximation of GELU ("gelu_new") where our model (like
    nanoGPT) uses the exact one; the two differ by at most 5e-4 per activation, the same
    difference nanoGPT accepts when it loads GPT-2.
    """

    def refuse(what: str) -> ConfigError:
        return ConfigError(f"{where}: {what}; only GPT-2's architecture loads", field="init_from")

    if config.get("model_type", "gpt2") != "gpt2":
        raise refuse(f"model_type is {config.get('model_type')!r}, not 'gpt2'")
    n_embd, n_head = int(config["n_embd"]), int(config["n_head"])
    activation = config.get("activation_function", "gelu_new")
    if activation not in GELU_NAMES:
        raise refuse(f"activation_function {activation!r} is not GELU")
    if config.get("n_inner") not in (None, 4 * n_embd):
        raise refuse(f"n_inner {config['n_inner']} is not 4 × n_embd")
    if not math.isclose(float(config.get("layer_norm_epsilon", 1e-5)), 1e-5):
        raise refuse(f"layer_norm_epsilon {config['layer_norm_epsilon']} is not 1e-5")
    for flag, wanted in (
        ("scale_attn_weights", True),
        ("scale_attn_by_inverse_layer_idx", False),
        ("add_cross_attention", False),
        ("tie_word_embeddings", True),
    ):
        if bool(config.get(flag, wanted)) != wanted:
            raise refuse(f"{flag} is {config[flag]}")
    vocab = int(config.get("vocab_size", GPT2_VOCAB))
    if vocab != GPT2_VOCAB:
        raise refuse(f"vocab_size is {vocab}, not GPT-2's {GPT2_VOCAB}")
    return {
        "n_layer": int(config["n_layer"]),
        "n_head": n_head,
        "n_embd": n_embd,
        "block_size": int(config.get("n_positions", config.get("n_ctx", 1024))),
        "bias": True,  # GPT-2 has biases everywhere
        "vocab_size": GPT2_VOCAB,
        "dropout": 0.0,
    }


def read_hf_weights(source: HFSource) -> dict[str, torch.Tensor]:
    """Every tensor of a Hugging Face folder: safetensors (one file or shards) or, failing
    that, pytorch_model.bin loaded with weights_only=True."""
    from safetensors.torch import load_file

    path = source.weights
    if path.name == SAFETENSORS_FILE:
        return load_file(path)
    if path.name == SAFETENSORS_INDEX:
        index = json.loads(path.read_text(encoding="utf-8"))
        tensors: dict[str, torch.Tensor] = {}
        for shard in sorted(set(index["weight_map"].values())):
            tensors.update(load_file(path.parent / shard))
        return tensors
    assert path.name == PICKLE_FILE
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ConfigError(f"{path} does not hold a state dict", field="init_from")
    return state


def expected_shapes(model_args: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """Our state dict's names and shapes for model_args, without allocating the weights."""
    with torch.device("meta"):
        model = GPT(GPTConfig(**model_args))
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


def hf_to_gpt(
    hf_state: dict[str, torch.Tensor], model_args: dict[str, Any], *, where: str
) -> dict[str, torch.Tensor]:
    """A Hugging Face GPT-2 state dict as ours (float32), every name and shape checked."""
    wanted = expected_shapes(model_args)
    ours: dict[str, torch.Tensor] = {}
    head: torch.Tensor | None = None
    for hf_name, tensor in hf_state.items():
        name = hf_name.removeprefix(HF_PREFIX)
        if name == HEAD:
            head = tensor
            continue
        if name.endswith(MASK_BUFFERS):
            continue
        name = f"{HF_PREFIX}{name}"
        if name not in wanted:
            raise ConfigError(f"{where}: unexpected weight {hf_name!r}", field="init_from")
        if name.endswith(TRANSPOSED):
            tensor = tensor.t()
        if tuple(tensor.shape) != wanted[name]:
            raise ConfigError(
                f"{where}: {hf_name} has shape {tuple(tensor.shape)}, expected "
                f"{wanted[name]} for this config",
                field="init_from",
            )
        ours[name] = tensor.to(torch.float32).contiguous()
    wte = f"{HF_PREFIX}wte.weight"
    missing = [name for name in wanted if name not in ours and name != HEAD]
    if missing:
        raise ConfigError(f"{where}: missing weight {missing[0]!r}", field="init_from")
    if head is not None and not torch.equal(head.to(torch.float32), ours[wte]):
        raise ConfigError(f"{where}: lm_head.weight is not tied to wte", field="init_from")
    ours[HEAD] = ours[wte]  # tied: one tensor under both names
    return ours


def gpt_to_hf(
    state: dict[str, torch.Tensor], model_args: dict[str, Any], *, vocab_size: int
) -> dict[str, torch.Tensor]:
    """Our state dict in Hugging Face's GPT2LMHeadModel layout, the embedding cut to
    vocab_size rows (padding rows past the tokenizer's ids are never used)."""
    assert vocab_size <= model_args["vocab_size"]
    hf: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        if name == HEAD:
            continue  # tied to wte; tie_word_embeddings=True restores it
        tensor = tensor.detach().to("cpu", torch.float32)
        if name.endswith(TRANSPOSED):
            tensor = tensor.t()
        if name == f"{HF_PREFIX}wte.weight":
            tensor = tensor[:vocab_size]
        hf[name] = tensor.contiguous().clone()  # safetensors wants owned, unshared storage
    if not model_args["bias"]:
        _add_zero_biases(hf)
    return hf


def _add_zero_biases(hf: dict[str, torch.Tensor]) -> None:
    """A bias=False model equals a biased one with zero biases (Linears and LayerNorms)."""
    for name in list(hf):
        if name.endswith(".weight") and "wte" not in name and "wpe" not in name:
            bias = name.removesuffix(".weight") + ".bias"
            width = hf[name].shape[-1] if name.endswith(TRANSPOSED) else hf[name].shape[0]
            hf.setdefault(bias, torch.zeros(width))


def hf_config(model_args: dict[str, Any], *, vocab_size: int, eos_id: int | None) -> dict[str, Any]:
    """config.json for GPT2LMHeadModel with exactly our model's arithmetic."""
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        # our MLP uses the exact GELU (as nanoGPT does); "gelu" makes transformers do the same
        "activation_function": "gelu",
        "n_layer": model_args["n_layer"],
        "n_head": model_args["n_head"],
        "n_embd": model_args["n_embd"],
        "n_positions": model_args["block_size"],
        "n_ctx": model_args["block_size"],
        "n_inner": None,
        "vocab_size": vocab_size,
        "layer_norm_epsilon": 1e-5,
        "initializer_range": 0.02,
        "attn_pdrop": model_args["dropout"],
        "embd_pdrop": model_args["dropout"],
        "resid_pdrop": model_args["dropout"],
        "scale_attn_weights": True,
        "scale_attn_by_inverse_layer_idx": False,
        "reorder_and_upcast_attn": False,
        "tie_word_embeddings": True,
        "bos_token_id": eos_id,
        "eos_token_id": eos_id,
        "use_cache": True,
        "torch_dtype": "float32",
    }
