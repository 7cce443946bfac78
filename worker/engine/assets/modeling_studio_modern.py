"""nanoGPT Studio's modern GPT (arch=modern) for Hugging Face transformers.

Shipped inside an `hf` export of a modern-arch run, and named by config.json's auto_map, so

    AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)

loads it. It needs only torch and transformers. The arithmetic is the studio's
(worker/engine/model/modern.py), written out again without the studio: rotary position
embeddings, RMSNorm without a learned scale, QK-norm, a ReLU² MLP, no biases, an untied head
and soft-capped logits. Parameter names are the studio's, so model.safetensors is its
checkpoint's weights as they are.

There is no key/value cache: every step reads the whole window again (generation asks for
use_cache=False by itself). A sequence longer than block_size is read with the studio's
sliding window: each token attends to its last block_size tokens, so generating past
block_size continues exactly as the studio does.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F
from transformers import GenerationMixin, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutput


class StudioModernConfig(PretrainedConfig):
    model_type = "studio_modern"

    def __init__(
        self,
        vocab_size: int = 256,
        n_layer: int = 2,
        n_head: int = 2,
        n_embd: int = 64,
        block_size: int = 64,
        logit_softcap: float = 15.0,
        rope_base: float = 10_000.0,
        **kwargs,
    ) -> None:
        self.vocab_size = vocab_size
        self.n_layer = n_layer
        self.n_head = n_head
        self.n_embd = n_embd
        self.block_size = block_size
        self.logit_softcap = logit_softcap
        self.rope_base = rope_base
        # transformers' own names, for tools that look for them
        self.hidden_size = n_embd
        self.num_hidden_layers = n_layer
        self.num_attention_heads = n_head
        self.max_position_embeddings = block_size
        kwargs.setdefault("use_cache", False)
        super().__init__(**kwargs)


def rms_norm(x: torch.Tensor) -> torch.Tensor:
    return F.rms_norm(x, (x.size(-1),))


def rotary_tables(
    positions: torch.Tensor, head_size: int, base: float
) -> tuple[torch.Tensor, torch.Tensor]:
    half = head_size // 2
    inv_freq = 1.0 / (
        base ** (torch.arange(half, dtype=torch.float32, device=positions.device) / half)
    )
    angles = positions.float()[:, None] * inv_freq[None, :]
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((x1 * cos + x2 * sin, x2 * cos - x1 * sin), dim=-1)


class Attention(nn.Module):
    def __init__(self, config: StudioModernConfig) -> None:
        super().__init__()
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=False)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.n_head = config.n_head

    def forward(self, x, rotary, mask):
        B, T, C = x.size()
        hs = C // self.n_head
        qk, v = self.c_attn(x).split((2 * C, C), dim=2)
        qk = qk.view(B, T, 2 * self.n_head, hs).transpose(1, 2)
        cos, sin = rotary
        q, k = rms_norm(apply_rotary(qk, cos, sin)).split(self.n_head, dim=1)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)
        if mask is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class MLP(nn.Module):
    def __init__(self, config: StudioModernConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=False)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=False)

    def forward(self, x):
        h = F.relu(self.c_fc(x))
        return self.c_proj(h * h)


class Block(nn.Module):
    def __init__(self, config: StudioModernConfig) -> None:
        super().__init__()
        self.attn = Attention(config)
        self.mlp = MLP(config)

    def forward(self, x, rotary, mask):
        x = x + self.attn(rms_norm(x), rotary, mask)
        return x + self.mlp(rms_norm(x))


class StudioModernForCausalLM(PreTrainedModel, GenerationMixin):
    config_class = StudioModernConfig
    base_model_prefix = "transformer"
    _no_split_modules: ClassVar[list[str]] = ["Block"]

    def __init__(self, config: StudioModernConfig) -> None:
        super().__init__(config)
        self.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(config.vocab_size, config.n_embd),
                "h": nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            }
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)

    def get_input_embeddings(self) -> nn.Module:
        return self.transformer["wte"]

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head

    def prepare_inputs_for_generation(self, input_ids, **kwargs):
        return {"input_ids": input_ids}  # no cache: the whole sequence every step

    def forward(self, input_ids=None, labels=None, return_dict=None, **kwargs):
        T = input_ids.size(1)
        cfg = self.config
        mask = None
        if cfg.block_size < T:  # each token sees its last block_size tokens (the studio's)
            i = torch.arange(T, device=input_ids.device)
            distance = i[:, None] - i[None, :]
            mask = (distance >= 0) & (distance < cfg.block_size)
        x = self.transformer["wte"](input_ids)
        positions = torch.arange(T, device=input_ids.device)
        cos, sin = rotary_tables(positions, cfg.n_embd // cfg.n_head, cfg.rope_base)
        rotary = (cos.to(x.dtype), sin.to(x.dtype))
        x = rms_norm(x)
        for block in self.transformer["h"]:
            x = block(x, rotary, mask)
        logits = self.lm_head(rms_norm(x))
        logits = cfg.logit_softcap * torch.tanh(logits / cfg.logit_softcap)
        loss = None
        if labels is not None:  # transformers' convention: labels are the inputs, shifted here
            loss = F.cross_entropy(
                logits[:, :-1].reshape(-1, logits.size(-1)).float(),
                labels[:, 1:].reshape(-1),
                ignore_index=-100,
            )
        return CausalLMOutput(loss=loss, logits=logits)
