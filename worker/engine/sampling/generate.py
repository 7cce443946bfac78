"""Token generation: KV-cached, with a sliding context window and nanoGPT's sampling knobs.

The context window rule, shared by the cached and the uncached path so both give the same
tokens: the model sees every token since the window start; when one more would exceed
block_size, the window jumps forward to keep the newest `block_size - block_size // 4`
tokens. With learned absolute positions, a window that slid by one token each step would
change every cached key and value, so the cache could never be reused; jumping a quarter
window at a time re-reads the context once per block_size // 4 new tokens instead.

A rotary model (arch=modern) has no absolute positions to change, so its window slides by
one token and its cache with it (`_generate_sliding`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from worker.engine.model.build import AnyGPT

# Below this temperature sampling is greedy: dividing logits by 1e-40 overflows float32 to
# inf (and softmax to NaN); at 1e-4 a logit gap of 0.01 already weighs e^100 to 1.
GREEDY_BELOW = 1e-4


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.8  # 0 (or below GREEDY_BELOW) is greedy: the most likely token
    top_k: int | None = 200
    top_p: float | None = None
    vocab_limit: int | None = None  # ids at or above this are never emitted (padding)


def window_keep(block_size: int) -> int:
    """How many of the newest tokens stay in the window when it jumps forward."""
    return block_size - max(1, block_size // 4)


@torch.no_grad()
def generate_ids(
    model: AnyGPT,
    prompt: list[int],
    max_new_tokens: int,
    sampling: Sampling,
    generator: torch.Generator | None = None,
    *,
    use_cache: bool = True,
) -> Iterator[int]:
    """Yield max_new_tokens new token ids, one at a time, continuing the prompt."""
    assert prompt, "generation needs at least one token to start from"
    model.eval()
    if model.slides_window:
        yield from _generate_sliding(model, prompt, max_new_tokens, sampling, generator, use_cache)
        return
    block_size = model.config.block_size
    keep = window_keep(block_size)
    device = model.lm_head.weight.device
    context = prompt[-block_size:]
    cache = model.new_cache(1, device, model.lm_head.weight.dtype) if use_cache else None

    def forward(tokens: list[int]) -> torch.Tensor:
        logits, _ = model(torch.tensor([tokens], dtype=torch.long, device=device), cache=cache)
        return logits[:, -1, :]  # (1, vocab_size)

    logits = forward(context)
    for _ in range(max_new_tokens):
        token = pick_token(logits, sampling, generator)
        yield token
        context.append(token)
        if len(context) > block_size:
            context = context[-keep:]
            if cache is not None:
                cache.length = 0  # re-read the shortened window from scratch
                logits = forward(context)
                continue
        # the cache already holds the context: only the new token needs a forward pass
        logits = forward(context) if cache is None else forward([token])


def _generate_sliding(
    model: AnyGPT,
    prompt: list[int],
    max_new_tokens: int,
    sampling: Sampling,
    generator: torch.Generator | None,
    use_cache: bool,
) -> Iterator[int]:
    """A rotary model: the window slides by one token, and the cache with it.

    Each token attends to the block_size newest tokens (itself included), at every layer.
    The cached path keeps those keys in a ring buffer. The uncached path reads the whole
    text with that sliding-window mask: a token's state depends on at most
    n_layer × (block_size - 1) tokens before it, so that many are kept, and both paths
    compute the same thing.
    """
    block_size = model.config.block_size
    device = model.lm_head.weight.device
    sequence = prompt[-block_size:]  # the prompt's first window starts at position 0
    reach = model.config.n_layer * (block_size - 1) + 1
    cache = model.new_cache(1, device, model.lm_head.weight.dtype) if use_cache else None

    def forward(tokens: list[int], start: int) -> torch.Tensor:
        idx = torch.tensor([tokens], dtype=torch.long, device=device)
        logits, _ = model(idx, cache=cache, start=start)
        return logits[:, -1, :]  # (1, vocab_size)

    logits = forward(sequence, 0)
    offset = 0  # absolute position of sequence[0]
    for _ in range(max_new_tokens):
        token = pick_token(logits, sampling, generator)
        yield token
        if cache is not None:
            logits = forward([token], 0)  # the cache knows the position
            continue
        sequence.append(token)
        if len(sequence) > reach:
            offset += len(sequence) - reach
            del sequence[: len(sequence) - reach]
        logits = forward(sequence, offset)


def pick_token(logits: torch.Tensor, sampling: Sampling, generator: torch.Generator | None) -> int:
    """Choose the next token from (1, vocab) logits by temperature, top-k and top-p."""
    logits = logits.float()
    if sampling.vocab_limit is not None:
        logits = logits[:, : sampling.vocab_limit]
    if sampling.temperature < GREEDY_BELOW:
        return int(torch.argmax(logits, dim=-1).item())
    # Shifted so the largest logit is 0: dividing can only push the others toward -inf, and
    # softmax always has one term of weight 1 (never inf/inf).
    logits = (logits - logits.max(dim=-1, keepdim=True).values) / sampling.temperature
    if sampling.top_k is not None and sampling.top_k > 0:
        kth = torch.topk(logits, min(sampling.top_k, logits.size(-1))).values[:, [-1]]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if sampling.top_p is not None and 0.0 < sampling.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        probs = F.softmax(sorted_logits, dim=-1)
        # drop a token once the more likely ones already cover top_p (the first always stays)
        drop = probs.cumsum(dim=-1) - probs >= sampling.top_p
        logits = logits.scatter(-1, order, sorted_logits.masked_fill(drop, float("-inf")))
    probs = F.softmax(logits, dim=-1)
    return int(torch.multinomial(probs, num_samples=1, generator=generator).item())
