"""A run's starting weights from GPT-2 (a named size or a Hugging Face folder), as nanoGPT's
from_pretrained gives them: GPT-2's shape, bias=True, vocab 50257, block_size cropped to the
run's, dropout from the run's config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from worker.engine.checkpoints.hf_source import HFSource, resolve
from worker.engine.checkpoints.hf_weights import (
    hf_to_gpt,
    model_args_from_hf_config,
    read_hf_weights,
)
from worker.engine.errors import ConfigError


@dataclass
class PretrainedWeights:
    source: HFSource
    model_args: dict[str, Any]  # nanoGPT's model_args, block_size already cropped
    state_dict: dict[str, torch.Tensor]  # our names, ready for GPT.load_state_dict


def load_pretrained(init_from: str, *, block_size: int, dropout: float) -> PretrainedWeights:
    """GPT-2 weights for a run of block_size tokens (at most the model's context)."""
    source = resolve(init_from)
    where = f"init_from={init_from!r} ({source.folder})"
    model_args = model_args_from_hf_config(source.config, where=where)
    state = hf_to_gpt(read_hf_weights(source), model_args, where=where)
    context = model_args["block_size"]
    if block_size > context:
        raise ConfigError(
            f"block_size {block_size} is longer than the model's context of {context} tokens",
            field="block_size",
        )
    # nanoGPT's crop_block_size: keep the first block_size position embeddings
    wpe = "transformer.wpe.weight"
    state[wpe] = state[wpe][:block_size].clone()
    model_args = {**model_args, "block_size": block_size, "dropout": dropout}
    return PretrainedWeights(source=source, model_args=model_args, state_dict=state)
