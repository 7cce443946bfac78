"""KV-cache generation against recomputing the whole context for every new token.

    python bench/kv_cache.py [--tokens 1000] [--block-size 256]

The model is nanoGPT's Shakespeare-char shape (6 layers, 6 heads, 384 dims); weights are
random, which changes nothing about speed. The baseline is nanoGPT's generate(): each step
runs the model over the last block_size tokens and keeps only the last position's logits.
"""

from __future__ import annotations

import argparse
import time

import torch

from worker.engine.model.gpt import GPT, GPTConfig
from worker.engine.sampling.generate import Sampling, generate_ids


@torch.no_grad()
def recompute_every_step(model: GPT, prompt: list[int], new_tokens: int) -> list[int]:
    """nanoGPT's way: crop to block_size, full forward pass, take the last logits."""
    idx = torch.tensor([prompt], dtype=torch.long)
    for _ in range(new_tokens):
        logits, _ = model(idx[:, -model.config.block_size :])
        next_id = logits[:, -1, :].argmax(dim=-1, keepdim=True)
        idx = torch.cat((idx, next_id), dim=1)
    return idx[0, len(prompt) :].tolist()


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--block-size", type=int, default=256)
    args = parser.parse_args()
    torch.manual_seed(0)
    config = GPTConfig(
        block_size=args.block_size, vocab_size=65, n_layer=6, n_head=6, n_embd=384, dropout=0.0
    )
    model = GPT(config).eval()
    prompt = [1]
    greedy = Sampling(temperature=0.0)
    cached_s, _ = timed(lambda: list(generate_ids(model, prompt, args.tokens, greedy)))
    plain_s, _ = timed(lambda: recompute_every_step(model, prompt, args.tokens))
    print(f"{args.tokens} new tokens, block_size {args.block_size}, 6x384 model, CPU fp32")
    print(f"recompute every step (nanoGPT): {plain_s:7.2f} s  {args.tokens / plain_s:8.1f} tok/s")
    print(f"KV cache (nanogpt-studio):      {cached_s:7.2f} s  {args.tokens / cached_s:8.1f} tok/s")
    print(f"speed-up: {plain_s / cached_s:.1f}x")


if __name__ == "__main__":
    main()
