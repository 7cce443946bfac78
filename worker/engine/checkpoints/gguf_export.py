"""A gpt2-arch checkpoint as one GGUF file that llama.cpp (and Ollama) load: model.gguf.

Written with the `gguf` package (llama.cpp's own writer) for llama.cpp's "gpt2"
architecture: nanoGPT's GPT is GPT-2's (pre-LayerNorm, learned positions, GELU MLP, a head
tied to the embedding). Our nn.Linear weights are (out, in), which is GGUF's row layout
already, so nothing is transposed. Differences handled here:
- llama.cpp's gpt2 graph wants every bias: a bias=False model gets zeros there;
- the embedding is cut to the tokenizer's ids (a GPT-2 model padded to 50304 never uses the
  rest, and llama.cpp wants one token per row); the head is the same tensor (tied), so
  there is no output.weight and llama.cpp reuses token_embd;
- llama.cpp's GELU is the tanh approximation, ours the exact one: they differ by at most
  5e-4 per activation (what nanoGPT accepts when it loads GPT-2).

Types: "gguf" is f32 (the checkpoint's numbers exactly); "gguf-f16" stores matrices in f16
and "gguf-q8_0" in 8-bit blocks of 32 (gguf quantizes it in numpy; a matrix whose rows are
not whole blocks stays f16), both keeping norms and biases in f32, as llama.cpp's own
converter does. The tokenizer: gguf_vocab.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gguf
import numpy as np
import torch

from worker.engine.checkpoints.files import clean_state_dict
from worker.engine.checkpoints.gguf_vocab import PRE_TOKENIZER, gguf_vocab
from worker.engine.errors import ConfigError

GGUF_FILE = "model.gguf"
ARCH = "gpt2"
LAYER_NORM_EPS = 1e-5  # gpt.py's LayerNorm
GGUF_TYPES = {
    "gguf": gguf.LlamaFileType.ALL_F32,
    "gguf-f16": gguf.LlamaFileType.MOSTLY_F16,
    "gguf-q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
}
# our name (after "transformer.h.{i}.") -> llama.cpp's (after "blk.{i}.")
_BLOCK = {
    "ln_1": "attn_norm",
    "attn.c_attn": "attn_qkv",
    "attn.c_proj": "attn_output",
    "ln_2": "ffn_norm",
    "mlp.c_fc": "ffn_up",
    "mlp.c_proj": "ffn_down",
}


def gguf_tensors(checkpoint: dict[str, Any], n_vocab: int) -> dict[str, np.ndarray]:
    """llama.cpp's tensor names -> float32 arrays (GGUF shapes are numpy's), biases filled in."""
    state = clean_state_dict(checkpoint["model"])
    args = checkpoint["model_args"]

    def get(name: str, width: int) -> np.ndarray:
        tensor = state.get(name)
        if tensor is None:  # bias=False: llama.cpp's gpt2 graph adds a bias anyway
            return np.zeros(width, dtype=np.float32)
        return tensor.detach().to("cpu", torch.float32).numpy().copy()

    n_embd = int(args["n_embd"])
    out = {
        "token_embd.weight": get("transformer.wte.weight", 0)[:n_vocab],
        "position_embd.weight": get("transformer.wpe.weight", 0),
        "output_norm.weight": get("transformer.ln_f.weight", 0),
        "output_norm.bias": get("transformer.ln_f.bias", n_embd),
    }
    widths = {"attn.c_attn": 3 * n_embd, "mlp.c_fc": 4 * n_embd}
    for i in range(int(args["n_layer"])):
        for ours, theirs in _BLOCK.items():
            prefix = f"transformer.h.{i}.{ours}"
            out[f"blk.{i}.{theirs}.weight"] = get(f"{prefix}.weight", 0)
            out[f"blk.{i}.{theirs}.bias"] = get(f"{prefix}.bias", widths.get(ours, n_embd))
    return out


def write_gguf(checkpoint: dict[str, Any], folder: Path, fmt: str) -> list[str]:
    """model.gguf in folder; returns its name. The arch was checked by export_formats."""
    meta = checkpoint.get("tokenizer")
    if not meta:
        raise ConfigError(
            "this checkpoint carries no tokenizer, and a GGUF file needs one; export it as "
            "safetensors or hf",
            field="format",
        )
    vocab = gguf_vocab(meta)
    n_vocab = len(vocab.tokens)
    args = checkpoint["model_args"]
    if int(args["vocab_size"]) < n_vocab:
        raise ConfigError(
            f"the model has {args['vocab_size']} embeddings but its tokenizer {n_vocab} ids",
            field="format",
        )
    file_type = GGUF_TYPES[fmt]
    writer = gguf.GGUFWriter(folder / GGUF_FILE, ARCH)
    writer.add_name(str((checkpoint.get("config") or {}).get("dataset") or "nanogpt-studio"))
    writer.add_context_length(int(args["block_size"]))
    writer.add_embedding_length(int(args["n_embd"]))
    writer.add_feed_forward_length(4 * int(args["n_embd"]))
    writer.add_block_count(int(args["n_layer"]))
    writer.add_head_count(int(args["n_head"]))
    writer.add_layer_norm_eps(LAYER_NORM_EPS)
    writer.add_file_type(file_type)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(PRE_TOKENIZER)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    writer.add_token_merges(vocab.merges)
    if vocab.eos_id is not None:
        writer.add_eos_token_id(vocab.eos_id)
        writer.add_bos_token_id(vocab.eos_id)
    writer.add_add_bos_token(False)  # the studio adds nothing before a prompt
    if file_type != gguf.LlamaFileType.ALL_F32:
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    for name, array in gguf_tensors(checkpoint, n_vocab).items():
        _add_tensor(writer, name, array, file_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return [GGUF_FILE]


def _add_tensor(
    writer: gguf.GGUFWriter, name: str, array: np.ndarray, file_type: gguf.LlamaFileType
) -> None:
    if array.ndim == 1 or file_type == gguf.LlamaFileType.ALL_F32:
        writer.add_tensor(name, array)  # norms and biases stay f32, as llama.cpp converts
        return
    q8 = gguf.GGMLQuantizationType.Q8_0
    block, _ = gguf.GGML_QUANT_SIZES[q8]
    if file_type == gguf.LlamaFileType.MOSTLY_Q8_0 and array.shape[-1] % block == 0:
        writer.add_tensor(name, gguf.quants.quantize(array, q8), raw_dtype=q8)  # byte rows
        return
    writer.add_tensor(name, array.astype(np.float16))
