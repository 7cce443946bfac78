"""Decode speed: 1000 tokens from a 4x128, block-256 char model, ours against nanoGPT's
generate(), side by side in one run (rounds alternate, so load on the machine hits both).

    python bench/decode_speed.py [--tokens 1000] [--rounds 3]

The checkpoint is written once with random weights (speed does not depend on what was
learned) and loaded the way each path loads it: `Sampler.stream` is what `nanogpt-studio
sample` and the sample worker run; `/v1 engine` is what POST /v1/completions runs on the
worker (`worker.engine.sampling.completions`). nanoGPT's generate() is written here from its
algorithm: crop the context to block_size, a full forward pass, keep the last logits,
temperature, top-k, softmax, multinomial, append.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from worker.engine.wait_policy import choose_wait_policy

choose_wait_policy()  # before torch loads, as `nanogpt-studio sample` does

import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from bench._machine import cpu_flags, machine  # noqa: E402
from worker.engine.checkpoints.files import save_checkpoint  # noqa: E402
from worker.engine.model.gpt import GPT, GPTConfig  # noqa: E402
from worker.engine.sampling.completions import CompletionRequest  # noqa: E402
from worker.engine.sampling.sample import SampleOptions, load_sampler  # noqa: E402
from worker.engine.sampling.together import complete  # noqa: E402

CHARS = sorted(set("\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"))


@torch.no_grad()
def nanogpt_generate(
    model: GPT, idx: torch.Tensor, max_new_tokens: int, temperature: float, top_k: int
) -> torch.Tensor:
    """nanoGPT's GPT.generate: no cache, the whole (cropped) context every step."""
    block_size = model.config.block_size
    for _ in range(max_new_tokens):
        idx_cond = idx if idx.size(1) <= block_size else idx[:, -block_size:]
        logits, _ = model(idx_cond)
        logits = logits[:, -1, :] / temperature
        v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
        logits[logits < v[:, [-1]]] = -float("Inf")
        probs = F.softmax(logits, dim=-1)
        idx_next = torch.multinomial(probs, num_samples=1)
        idx = torch.cat((idx, idx_next), dim=1)
    return idx


def write_checkpoint(folder: Path) -> Path:
    torch.manual_seed(0)
    config = GPTConfig(block_size=256, vocab_size=len(CHARS), n_layer=4, n_head=4, n_embd=128)
    model = GPT(config)
    path = folder / "ckpt.pt"
    save_checkpoint(
        {
            "model": model.state_dict(),
            "model_args": config.to_dict(),
            "iter_num": 0,
            "best_val_loss": 0.0,
            "config": {},
            "tokenizer": {"kind": "char", "chars": CHARS},
        },
        path,
    )
    return path


def timed(fn) -> tuple[float, float]:
    """Wall seconds, and CPU seconds of this process (on a busy host, what the work cost)."""
    started, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--baseline-threads",
        default="1",
        help="torch threads for nanoGPT's generate: a number, or 'default' (torch's own); a "
        "full window is enough work for threads to pay on an idle host, not on a busy one",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = write_checkpoint(Path(tmp))
        sampler = load_sampler(path, device="cpu")
        options = SampleOptions(max_new_tokens=args.tokens, temperature=0.8, top_k=200, seed=1)
        request = CompletionRequest(prompt="", max_tokens=args.tokens, temperature=0.8, seed=1)
        start = torch.tensor([[sampler.tokenizer.start_id]], dtype=torch.long)
        ours = torch.get_num_threads()
        theirs = ours if args.baseline_threads == "default" else int(args.baseline_threads)

        def baseline() -> None:
            torch.set_num_threads(theirs)
            try:
                nanogpt_generate(sampler.model, start, args.tokens, 0.8, 200)
            finally:
                torch.set_num_threads(ours)

        paths = {
            "nanoGPT generate (no cache)": baseline,
            "studio Sampler.stream (CLI, sample worker)": lambda: "".join(
                sampler.stream("", options)
            ),
            "studio /v1 engine (completions.complete)": lambda: list(complete(sampler, request)),
        }
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
        for _ in range(args.rounds):
            for name, fn in paths.items():
                times[name].append(timed(fn))
    print(f"{machine()}; CPU flags: {cpu_flags()}; load average {os.getloadavg()[0]:.1f}")
    print(
        f"torch threads: ours {ours} (one for a small model's decode), nanoGPT's generate "
        f"{theirs}; OMP_WAIT_POLICY {os.environ.get('OMP_WAIT_POLICY', 'default')}"
    )
    print(f"{args.tokens} new tokens, 4x128 char model, block_size 256, CPU fp32, T=0.8 top_k")
    print("wall s: median (rounds), tokens/s, speed-up | CPU s of the process: median, speed-up")
    base = [statistics.median(v[k] for v in times["nanoGPT generate (no cache)"]) for k in (0, 1)]
    for name, values in times.items():
        wall = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        spread = ", ".join(f"{v[0]:.2f}" for v in values)
        print(
            f"{name:44s} {wall:6.2f} s ({spread}) {args.tokens / wall:6.0f} tok/s "
            f"{base[0] / wall:5.1f}x | CPU {cpu:6.2f} s {base[1] / cpu:5.1f}x"
        )


if __name__ == "__main__":
    main()
