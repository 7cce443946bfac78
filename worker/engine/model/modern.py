"""The modern GPT (`arch=modern`): the recipe of modded-nanogpt's speedrun and nanochat.

Differences from nanoGPT's GPT (model.py), each for a measured or published reason:
- rotary position embeddings instead of learned positions: attention sees only relative
  distances, so a cached key stays valid as the window slides, and generation past
  block_size slides the KV cache by one token instead of re-reading the window;
- RMSNorm without a learned scale (one op, no parameters), and QK-norm: queries and keys are
  normalised per head before attention, which keeps the logits bounded at high learning rates;
- ReLU² MLP (relu(x)²: cheaper than GELU and better in the speedrun's ablations);
- no biases anywhere, an untied head (embedding and unembedding learn at different rates),
  zero-initialised output projections (every block starts as the identity), and a small
  head init;
- logit soft-capping: logits = cap · tanh(logits / cap), so no logit runs away early on.

The interface is the one the trainer and the sampler use for GPT: forward(idx, targets,
cache) -> (logits, loss), num_params, flops_per_token, new_cache, config, lm_head.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch.nn import functional as F

from worker.engine.model.gpt import GPTConfig, RowCache, padding_mask

LOGIT_SOFTCAP = 15.0  # nanochat's cap (modded-nanogpt used 30, then 15)
ROPE_BASE = 10_000.0


def rms_norm(x: torch.Tensor) -> torch.Tensor:
    """RMSNorm over the last dimension, no learned scale."""
    return F.rms_norm(x, (x.size(-1),))


def rotary_tables(
    positions: torch.Tensor, head_size: int, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin (T, head_size // 2) for the given absolute positions (T,)."""
    half = head_size // 2
    inv_freq = 1.0 / (
        ROPE_BASE ** (torch.arange(half, dtype=torch.float32, device=positions.device) / half)
    )
    angles = positions.float()[:, None] * inv_freq[None, :]  # (T, half)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (x1, x2) of each head's channels by the position's angle. x: (B, nh, T, hs)."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((x1 * cos + x2 * sin, x2 * cos - x1 * sin), dim=-1)


class SlidingKVCache(RowCache):
    """Keys and values of the last block_size tokens, a ring buffer per layer.

    Rotary positions are baked into the cached keys, and attention depends only on relative
    distances, so when the window is full the newest token overwrites the oldest slot and
    every other entry stays valid: one token per forward pass, however long the generation.
    A single query attends to every slot with no mask, so the ring order does not matter.
    `pad` (B,): left-padded rows of different prompts (`gpt.RowCache`); rotary
    attention is relative, so a padded row computes what it would alone.
    """

    def __init__(self, config: GPTConfig, batch: int, device: torch.device, dtype: torch.dtype):
        super().__init__(config, batch, device, dtype)
        self.block_size = config.block_size
        self.position = 0  # absolute position of the next token (tokens seen so far)

    def mask(self, tokens: int) -> torch.Tensor | None:
        """The padding mask of the next `tokens` tokens (None: no row is padded)."""
        if self.pad is None:
            return None
        device = self.pad.device
        end = self.position + tokens
        if end <= self.block_size:  # slot i holds column i
            keys = torch.arange(end, device=device)
        else:  # the ring, once this token is stored: slot i holds the newest column ≡ i
            slots = torch.arange(self.block_size, device=device)
            keys = self.position - (self.position - slots) % self.block_size
        return padding_mask(self.pad, torch.arange(self.position, end, device=device), keys)

    @property
    def length(self) -> int:
        """Slots holding a token."""
        return min(self.position, self.block_size)

    def store(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Add this step's k, v (B, nh, T, hs); return what the new tokens attend to."""
        T = k.size(2)
        if self.position + T <= self.block_size:  # filling up: append in order
            start, end = self.position, self.position + T
            self.k[layer, :, :, start:end] = k
            self.v[layer, :, :, start:end] = v
            return self.k[layer, :, :, :end], self.v[layer, :, :, :end]
        assert T == 1, "past block_size the cache takes one token at a time"
        slot = self.position % self.block_size
        self.k[layer, :, :, slot : slot + 1] = k
        self.v[layer, :, :, slot : slot + 1] = v
        return self.k[layer], self.v[layer]


class ModernAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        assert config.n_embd % config.n_head == 0
        assert (config.n_embd // config.n_head) % 2 == 0, "rotary needs an even head size"
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=False)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout

    def forward(
        self,
        x: torch.Tensor,
        rotary: tuple[torch.Tensor, torch.Tensor],
        cache: SlidingKVCache | None,
        layer: int,
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        B, T, C = x.size()
        hs = C // self.n_head
        qk, v = self.c_attn(x).split((2 * C, C), dim=2)
        # Queries and keys get the same rotation and norm: one op each on both at once (on a
        # CPU, per-op overhead is a real part of a small model's step).
        qk = qk.view(B, T, 2 * self.n_head, hs).transpose(1, 2)  # (B, 2·nh, T, hs)
        cos, sin = rotary
        q, k = rms_norm(apply_rotary(qk, cos, sin)).split(self.n_head, dim=1)  # QK-norm
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        past = 0
        if cache is not None:
            past = cache.length
            k, v = cache.store(layer, k, v)
        if mask is not None:  # longer than block_size (each token sees its window), or padded
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        elif past == 0:
            y = F.scaled_dot_product_attention(
                q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True
            )
        elif T == 1:
            y = F.scaled_dot_product_attention(q, k, v)  # one new token sees every cached one
        else:
            keep = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(diagonal=past)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class ModernMLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=False)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=False)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.c_fc(x))
        # ReLU² as h·h: its backward is two multiplies, where square()'s goes through pow
        return self.dropout(self.c_proj(h * h))


class ModernBlock(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.attn = ModernAttention(config)
        self.mlp = ModernMLP(config)

    def forward(self, x, rotary, cache, layer, mask):
        x = x + self.attn(rms_norm(x), rotary, cache, layer, mask)
        return x + self.mlp(rms_norm(x))


class ModernGPT(nn.Module):
    """Rotary, RMSNorm, QK-norm, ReLU², no biases, untied head, soft-capped logits."""

    arch = "modern"
    slides_window = True  # generation past block_size slides by one token (see generate.py)

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        assert config.vocab_size > 0 and config.block_size > 0
        assert not config.bias, "the modern arch has no biases"
        self.config = config
        self.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(config.vocab_size, config.n_embd),
                "drop": nn.Dropout(config.dropout),
                "h": nn.ModuleList([ModernBlock(config) for _ in range(config.n_layer)]),
            }
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.head_size = config.n_embd // config.n_head
        positions = torch.arange(config.block_size)
        cos, sin = rotary_tables(positions, self.head_size, torch.float32)
        # not saved: recomputed from block_size, so checkpoints hold weights only
        self.register_buffer("rotary_cos", cos, persistent=False)
        self.register_buffer("rotary_sin", sin, persistent=False)
        self._init_weights()

    @torch.no_grad()
    def _init_weights(self) -> None:
        # nanochat's init: embeddings N(0, 1) (normalised right away), inner matrices
        # uniform with std 1/sqrt(fan_in), output projections zero, the head small.
        nn.init.normal_(self.transformer.wte.weight, mean=0.0, std=1.0)
        nn.init.normal_(self.lm_head.weight, mean=0.0, std=0.001)
        for block in self.transformer.h:
            for linear in (block.attn.c_attn, block.mlp.c_fc):
                bound = math.sqrt(3.0 / linear.in_features)
                nn.init.uniform_(linear.weight, -bound, bound)
            nn.init.zeros_(block.attn.c_proj.weight)
            nn.init.zeros_(block.mlp.c_proj.weight)

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameter count; the token embedding is a lookup, so it is left out by default
        (the untied head does matmul work and stays in)."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.transformer.wte.weight.numel()
        return n

    def new_cache(self, batch: int, device: torch.device, dtype: torch.dtype) -> SlidingKVCache:
        return SlidingKVCache(self.config, batch, device, dtype)

    def _rotary(self, start: int, length: int, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
        end = start + length
        if end <= self.config.block_size:
            cos, sin = self.rotary_cos[start:end], self.rotary_sin[start:end]
        else:  # past the window (sliding generation): compute the angles for these positions
            positions = torch.arange(start, end, device=self.rotary_cos.device)
            cos, sin = rotary_tables(positions, self.head_size, torch.float32)
        return cos.to(dtype), sin.to(dtype)

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        cache: SlidingKVCache | None = None,
        *,
        start: int = 0,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits for every position with targets (and the loss), else for the last one only.

        `start` is the absolute position of idx[:, 0] without a cache (with one, the cache
        knows it). A sequence longer than block_size (no cache, no targets) is read with a
        sliding-window mask: each token attends to its last block_size tokens, which is
        exactly what the sliding cache computes, so the two paths agree token for token.
        """
        _, T = idx.size()
        mask = None
        if cache is not None:
            start = cache.position
            assert cache.length + T <= self.config.block_size or T == 1
            mask = cache.mask(T)
        if self.config.block_size < T:  # longer than a window: only without cache or targets
            assert targets is None and cache is None, "training windows are at most block_size"
            i = torch.arange(T, device=idx.device)
            distance = i[:, None] - i[None, :]  # (T, T): how far back each key is
            mask = (distance >= 0) & (distance < self.config.block_size)
        x = self.transformer.wte(idx)  # (B, T, n_embd)
        rotary = self._rotary(start, T, x.dtype)
        x = self.transformer.drop(rms_norm(x))
        for layer, block in enumerate(self.transformer.h):
            x = block(x, rotary, cache, layer, mask)
        if cache is not None:
            cache.position += T
        x = rms_norm(x)
        if targets is None:
            x = x[:, [-1], :]  # inference: the last position only (a list keeps the time dim)
        logits = self.lm_head(x)
        logits = LOGIT_SOFTCAP * torch.tanh(logits / LOGIT_SOFTCAP)
        if targets is None:
            return logits, None
        loss = F.cross_entropy(
            logits.view(-1, logits.size(-1)).float(), targets.reshape(-1), ignore_index=-1
        )
        return logits, loss

    def flops_per_token(self) -> float:
        """Training FLOPs per token (forward + backward), PaLM appendix B's estimate."""
        cfg = self.config
        return 6 * self.num_params() + 12 * cfg.n_layer * cfg.n_embd * cfg.block_size
