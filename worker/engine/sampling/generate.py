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

from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
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


# A model of fewer FLOPs a token than this decodes on one CPU thread: its step is too little
# work to split, and the threads' hand-offs cost more than they save (on a busy host, many
# times more: docs/benchmarks.md, decode speed). The whole decode, the window's re-reads
# included: threads that wake for one pass in 64 spin or sleep between, and both cost.
ONE_THREAD_FLOPS = 2**25


@contextmanager
def threads_for(flops_per_token: float, device: torch.device) -> Iterator[None]:
    """One CPU thread for a forward pass of a model that is small work a token."""
    before = torch.get_num_threads()
    if flops_per_token >= ONE_THREAD_FLOPS or before == 1 or device.type != "cpu":
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def window_keep(block_size: int) -> int:
    """How many of the newest tokens stay in the window when it jumps forward."""
    return block_size - max(1, block_size // 4)


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
    for tokens, _ in generate_rows(
        model, prompt, max_new_tokens, sampling, [generator], use_cache=use_cache
    ):
        yield tokens[0]


@torch.inference_mode()
def generate_rows(
    model: AnyGPT,
    prompt: list[int],
    max_new_tokens: int,
    sampling: Sampling,
    generators: Sequence[torch.Generator | None],
    *,
    use_cache: bool = True,
) -> Iterator[tuple[list[int], torch.Tensor]]:
    """Continue the prompt in len(generators) rows at once, one batch per step (row i draws
    from generators[i], so a row's text does not depend on how many run beside it).

    Each step yields the rows' new tokens and the logits they were drawn from (rows, vocab):
    float32, before temperature, for whoever wants log-probabilities."""
    assert prompt, "generation needs at least one token to start from"
    rows = len(generators)
    block_size = model.config.block_size
    context = torch.tensor([prompt[-block_size:]], dtype=torch.long)
    yield from _generate(model, context.expand(rows, -1), None, max_new_tokens, [sampling],
                         generators, use_cache)  # fmt: skip


@torch.inference_mode()
def generate_batch(
    model: AnyGPT,
    prompts: Sequence[list[int]],
    max_new_tokens: int,
    samplings: Sequence[Sampling],
    generators: Sequence[torch.Generator | None],
    retired: set[int] | None = None,
) -> Iterator[tuple[list[int], torch.Tensor]]:
    """generate_rows for rows that continue different prompts (requests from different
    clients, batched): each prompt left-padded to the longest, and the padding masked out of
    attention and skipped by positions, so row i computes what it would alone and draws with
    samplings[i] and generators[i]. Rows the caller puts in `retired` after a step (numbered
    as that step's tokens are) leave the batch: later steps hold the others, in order.

    Exact for a rotary model, whose window slides. A gpt2-arch model's window jumps for the
    whole batch when the padded length reaches block_size, so a padded row then keeps less
    context than it would alone: `fits_unpadded` says when a batch never gets there."""
    assert prompts and all(prompts), "generation needs at least one token to start from"
    block_size = model.config.block_size
    kept = [p[-block_size:] for p in prompts]
    width = max(map(len, kept))
    context = torch.tensor([[0] * (width - len(p)) + p for p in kept], dtype=torch.long)
    pad = torch.tensor([width - len(p) for p in kept], dtype=torch.long)
    yield from _generate(model, context, pad, max_new_tokens, samplings, generators, True, retired)


def fits_unpadded(model: AnyGPT, prompt_lengths: Sequence[int], max_new_tokens: int) -> bool:
    """Does a batch of these prompts compute exactly what each would alone? Always for a
    rotary model; for a gpt2-arch one, when nothing is padded (every window jumps as it would
    alone) or the padded length never passes block_size."""
    block_size = model.config.block_size
    widths = {min(length, block_size) for length in prompt_lengths}
    unpadded = len(widths) == 1
    return model.slides_window or unpadded or max(widths) + max_new_tokens <= block_size


def _generate(
    model: AnyGPT,
    context: torch.Tensor,
    pad: torch.Tensor | None,
    max_new_tokens: int,
    samplings: Sequence[Sampling],
    generators: Sequence[torch.Generator | None],
    use_cache: bool,
    retired: set[int] | None = None,
) -> Iterator[tuple[list[int], torch.Tensor]]:
    model.eval()
    device = model.lm_head.weight.device
    context = context.to(device)
    pad = pad.to(device) if pad is not None and bool(pad.any()) else None
    assert use_cache or pad is None, "padded rows need the cache (it carries the padding)"
    if model.slides_window:
        steps = _sliding_logits(model, context, pad, use_cache)
    else:
        steps = _jumping_logits(model, context, pad, use_cache)
    logits = next(steps)
    for _ in range(max_new_tokens):
        tokens = pick_tokens(logits, samplings, generators)
        yield tokens.tolist(), logits
        keep = None
        if retired:  # rows the caller is done with: no more steps for them
            kept = [row for row in range(len(generators)) if row not in retired]
            retired.clear()
            if not kept:
                return
            generators = [generators[row] for row in kept]
            if len(samplings) > 1:
                samplings = [samplings[row] for row in kept]
            keep = torch.tensor(kept, device=device)
        logits = steps.send((tokens, keep))


# A step function: yields the (rows, vocab) logits of the next token, then receives the
# (rows,) tokens picked from them and the rows to keep (None: all), and yields the logits
# after those tokens, for the rows kept.
Steps = Generator[torch.Tensor, tuple[torch.Tensor, torch.Tensor | None], None]


def _jumping_logits(
    model: AnyGPT, context: torch.Tensor, pad: torch.Tensor | None, use_cache: bool
) -> Steps:
    block_size = model.config.block_size
    kept_on_jump = window_keep(block_size)
    rows, device = context.size(0), context.device
    cache = model.new_cache(rows, device, model.lm_head.weight.dtype) if use_cache else None
    if cache is not None:
        cache.pad = pad
    flops_per_token = 2 * model.num_params()

    def forward(idx: torch.Tensor) -> torch.Tensor:
        with threads_for(flops_per_token, device):
            logits, _ = model(idx, cache=cache)
        return logits[:, -1, :].float()  # (rows, vocab_size)

    logits = forward(context)
    while True:
        tokens, keep = yield logits
        if keep is not None:
            context, tokens = context[keep], tokens[keep]
            if cache is not None:
                cache.keep(keep)
        tokens = tokens.view(-1, 1)
        context = torch.cat((context, tokens), dim=1)
        if context.size(1) > block_size:
            if cache is not None and cache.pad is not None:  # the pads dropped go first
                cache.pad = (cache.pad - (context.size(1) - kept_on_jump)).clamp(min=0)
            context = context[:, -kept_on_jump:]
            if cache is not None:
                cache.length = 0  # re-read the shortened window from scratch
                logits = forward(context)
                continue
        # the cache already holds the context: only the new token needs a forward pass
        logits = forward(context if cache is None else tokens)


def _sliding_logits(
    model: AnyGPT, sequence: torch.Tensor, pad: torch.Tensor | None, use_cache: bool
) -> Steps:
    """A rotary model: the window slides by one token, and the cache with it.

    Each token attends to the block_size newest tokens (itself included), at every layer.
    The cached path keeps those keys in a ring buffer. The uncached path reads the whole
    text with that sliding-window mask: a token's state depends on at most
    n_layer × (block_size - 1) tokens before it, so that many are kept, and both paths
    compute the same thing.
    """
    block_size = model.config.block_size
    rows, device = sequence.size(0), sequence.device  # the first window starts at position 0
    reach = model.config.n_layer * (block_size - 1) + 1
    cache = model.new_cache(rows, device, model.lm_head.weight.dtype) if use_cache else None
    if cache is not None:
        cache.pad = pad
    flops_per_token = 2 * model.num_params()

    def forward(idx: torch.Tensor, start: int) -> torch.Tensor:
        with threads_for(flops_per_token, device):
            logits, _ = model(idx, cache=cache, start=start)
        return logits[:, -1, :].float()  # (rows, vocab_size)

    logits = forward(sequence, 0)
    offset = 0  # absolute position of sequence[:, 0]
    while True:
        tokens, keep = yield logits
        if keep is not None:
            sequence, tokens = sequence[keep], tokens[keep]
            if cache is not None:
                cache.keep(keep)
        tokens = tokens.view(-1, 1)
        if cache is not None:
            logits = forward(tokens, 0)  # the cache knows the position
            continue
        sequence = torch.cat((sequence, tokens), dim=1)
        if sequence.size(1) > reach:
            offset += sequence.size(1) - reach
            sequence = sequence[:, -reach:]
        logits = forward(sequence, offset)


def pick_tokens(
    logits: torch.Tensor,
    samplings: Sequence[Sampling],
    generators: Sequence[torch.Generator | None],
) -> torch.Tensor:
    """One token per row of (rows, vocab) logits, row i drawn with generators[i] and
    samplings[i] (one Sampling: every row's)."""
    if len(generators) == 1:
        picked = [pick_token(logits, samplings[0], generators[0])]
    else:
        per_row = (
            samplings if len(samplings) == len(generators) else [samplings[0]] * len(generators)
        )
        picked = [
            pick_token(logits[i : i + 1], sampling, g)
            for i, (sampling, g) in enumerate(zip(per_row, generators, strict=True))
        ]
    return torch.tensor(picked, device=logits.device)


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
    if sampling.top_k is not None and 0 < sampling.top_k < logits.size(-1):
        kth = torch.topk(logits, sampling.top_k).values[:, [-1]]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if sampling.top_p is not None and 0.0 < sampling.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        probs = F.softmax(sorted_logits, dim=-1)
        # drop a token once the more likely ones already cover top_p (the first always stays)
        drop = probs.cumsum(dim=-1) - probs >= sampling.top_p
        logits = logits.scatter(-1, order, sorted_logits.masked_fill(drop, float("-inf")))
    probs = F.softmax(logits, dim=-1)
    return int(torch.multinomial(probs, num_samples=1, generator=generator).item())
