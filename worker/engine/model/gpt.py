"""The GPT: nanoGPT's architecture and parameter names, plus a KV cache for generation.

Pre-LayerNorm transformer blocks, GELU MLP, learned absolute positions, and a language-model
head tied to the token embedding. Parameter names match nanoGPT's model.py exactly, so its
checkpoints load here and ours load there.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
from torch.nn import functional as F


@dataclass
class GPTConfig:
    block_size: int = 1024
    vocab_size: int = 50304  # GPT-2's 50257 padded up to a multiple of 64 for speed
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True  # biases in Linears and LayerNorms, like GPT-2; False is a bit faster

    def to_dict(self) -> dict[str, int | float | bool]:
        return asdict(self)


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias (PyTorch's cannot drop only the bias)."""

    def __init__(self, ndim: int, bias: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


def padding_mask(pad: torch.Tensor, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """(B, 1, T, K) attention mask of a batch whose rows are prompts left-padded to one
    length: row b's query at column queries[t] sees the key at column keys[k] when it is not
    later and not one of the row's pad[b] pad columns. A pad column's query sees itself (so
    its softmax has a term); nothing real ever reads it."""
    causal = keys[None, :] <= queries[:, None]  # (T, K)
    itself = keys[None, :] == queries[:, None]  # (T, K)
    real = keys[None, :] >= pad[:, None]  # (B, K)
    return (causal[None] & (real[:, None, :] | itself[None]))[:, None]


class RowCache:
    """Keys and values of every layer, one row per sequence, preallocated to block_size; and
    `pad` (B,): rows holding different prompts are left-padded to one length, row b with
    pad[b] pad columns, which attention masks out (see generate_batch)."""

    def __init__(self, config: GPTConfig, batch: int, device: torch.device, dtype: torch.dtype):
        head_size = config.n_embd // config.n_head
        shape = (config.n_layer, batch, config.n_head, config.block_size, head_size)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.pad: torch.Tensor | None = None

    def keep(self, rows: torch.Tensor) -> None:
        """Only these rows from now on (the others' generation ended)."""
        self.k, self.v = self.k[:, rows], self.v[:, rows]
        if self.pad is not None:
            self.pad = self.pad[rows]


class KVCache(RowCache):
    """The tokens seen so far, in order; a padded row's positions also skip its pads."""

    def __init__(self, config: GPTConfig, batch: int, device: torch.device, dtype: torch.dtype):
        super().__init__(config, batch, device, dtype)
        self.length = 0  # tokens cached; also the position of the next token

    def mask(self, tokens: int) -> torch.Tensor | None:
        """The padding mask of the next `tokens` tokens (None: no row is padded)."""
        if self.pad is None:
            return None
        columns = torch.arange(self.length + tokens, device=self.pad.device)
        return padding_mask(self.pad, columns[self.length :], columns)

    def store(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Append this step's k, v (B, nh, T, hs) and return all cached so far for the layer."""
        start, end = self.length, self.length + k.size(2)
        self.k[layer, :, :, start:end] = k
        self.v[layer, :, :, start:end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        assert config.n_embd % config.n_head == 0
        # query, key and value projections for all heads, in one matmul
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout

    def forward(
        self,
        x: torch.Tensor,
        cache: KVCache | None = None,
        layer: int = 0,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        B, T, C = x.size()  # batch, sequence length, embedding dim (n_embd)
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        hs = C // self.n_head
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)
        past = 0
        if cache is not None:
            past = cache.length
            k, v = cache.store(layer, k, v)  # (B, nh, past + T, hs)
        if mask is not None:
            # rows of different prompts, left-padded: each sees its own tokens only
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        elif past == 0:
            # whole sequence at once: plain causal mask (flash attention where available)
            y = F.scaled_dot_product_attention(
                q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True
            )
        elif T == 1:
            # one new token sees every cached one: no mask needed
            y = F.scaled_dot_product_attention(q, k, v)
        else:
            # new tokens see every cached one, and the earlier of themselves
            mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(diagonal=past)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # re-assemble the heads side by side
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(
        self,
        x: torch.Tensor,
        cache: KVCache | None = None,
        layer: int = 0,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cache, layer, mask)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    arch = "gpt2"
    slides_window = False  # generation past block_size jumps by a quarter window (generate.py)

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        assert config.vocab_size > 0 and config.block_size > 0
        self.config = config
        self.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(config.vocab_size, config.n_embd),
                "wpe": nn.Embedding(config.block_size, config.n_embd),
                "drop": nn.Dropout(config.dropout),
                "h": nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
                "ln_f": LayerNorm(config.n_embd, bias=config.bias),
            }
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # Weight tying: one matrix embeds tokens and scores them (fewer parameters, better).
        self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        # GPT-2's scaled init of the projections that write into the residual stream
        for name, param in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameter count; position embeddings excluded by default, as nanoGPT counts.

        The token embedding stays in: it is tied to the head, so it does real work.
        """
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.transformer.wpe.weight.numel()
        return n

    def new_cache(self, batch: int, device: torch.device, dtype: torch.dtype) -> KVCache:
        return KVCache(self.config, batch, device, dtype)

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        cache: KVCache | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits for every position with targets (and the loss), else for the last one only."""
        _, T = idx.size()  # (B, T)
        start = cache.length if cache is not None else 0
        assert start + T <= self.config.block_size, (
            f"sequence of {start + T} tokens is longer than block_size {self.config.block_size}"
        )
        pos = torch.arange(start, start + T, dtype=torch.long, device=idx.device)  # (T,)
        mask = None
        if cache is not None and cache.pad is not None:
            # a left-padded row's first real token is its position 0, as it would be alone
            pos = (pos[None, :] - cache.pad[:, None]).clamp(min=0)  # (B, T)
            mask = cache.mask(T)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for layer, block in enumerate(self.transformer.h):
            x = block(x, cache, layer, mask)
        if cache is not None:
            cache.length += T
        x = self.transformer.ln_f(x)  # (B, T, n_embd)
        if targets is not None:
            logits = self.lm_head(x)  # (B, T, vocab_size)
            loss = F.cross_entropy(
                logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1
            )
            return logits, loss
        # inference: only the last position's logits are needed (a list keeps the time dim)
        return self.lm_head(x[:, [-1], :]), None

    def flops_per_token(self) -> float:
        """Training FLOPs per token (forward + backward), PaLM appendix B's estimate."""
        cfg = self.config
        n = self.num_params()
        head_size = cfg.n_embd // cfg.n_head
        return 6 * n + 12 * cfg.n_layer * cfg.n_head * head_size * cfg.block_size
