"""Tokens/s through POST /v1/completions at 1, 4 and 16 concurrent streams, on the real API
and one sample worker (concurrency 2, as `nanogpt-studio serve` starts it), CPU.

    python bench/openai_streams.py [--tokens 200] [--streams 1 4 16]

The model is the 4x128, block-256 char model of bench/decode_speed.py (random weights). Each
stream has its own prompt (0 to 20 characters) and seed, so a batch holds padded rows of
different prompts, as clients send them. A stream counts the tokens it is sent (usage, from
stream_options.include_usage); tokens/s is all the streams' tokens over the wall time from
the first request to the last [DONE]; "batched" is the largest X-Studio-Batch-Requests.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._machine import cpu_flags
from bench._stack import TOKEN, machine, service
from bench.decode_speed import write_checkpoint


def one_stream(base: str, tokens: int, seed: int) -> tuple[int, float, int]:
    """Completion tokens of one stream, the seconds to its first piece, and how many
    requests its batch generated together."""
    body = {
        "model": "run-1",
        "prompt": "the quick brown fox jumps"[: seed * 7 % 21],
        "max_tokens": tokens,
        "seed": seed,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.perf_counter()
    first: float | None = None
    count = 0
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.stream("POST", base + "/completions", json=body, headers=headers, timeout=900) as r:
        if r.status_code != 200:
            raise RuntimeError(f"{r.status_code}: {r.read().decode()[:500]}")
        together = int(r.headers["x-studio-batch-requests"])
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[len("data: ") :])
            if chunk["choices"] and first is None:
                first = time.perf_counter() - started
            if chunk.get("usage"):
                count = chunk["usage"]["completion_tokens"]
    return count, first or 0.0, together


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 4, 16])
    args = parser.parse_args()
    with service(workers=False) as svc:
        write_checkpoint(_run_dir(svc.data_dir))
        svc.spawn("sample", "worker", "--queues", "sample", "--concurrency", "2")
        svc.wait_ready(1)
        base = svc.url.removesuffix("/api/v1") + "/v1"
        # each pool process imports torch and loads the checkpoint once (its warm cache):
        # bursts of concurrent requests reach both
        for _ in range(3):
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda s: one_stream(base, 20, s), range(4)))
        print(f"{machine()}; CPU flags: {cpu_flags()}; load average {os.getloadavg()[0]:.1f}")
        print(f"{args.tokens} tokens a stream, 4x128 char model, one sample worker (2 processes)")
        for streams in args.streams:
            started = time.perf_counter()
            with ThreadPoolExecutor(streams) as pool:
                results = list(pool.map(lambda s: one_stream(base, args.tokens, s), range(streams)))
            wall = time.perf_counter() - started
            total = sum(count for count, _, _ in results)
            firsts = sorted(first for _, first, _ in results)
            batched = max(together for _, _, together in results)
            print(
                f"{streams:3d} streams: {total:6d} tokens in {wall:6.2f} s = {total / wall:7.0f} "
                f"tok/s; first piece after {firsts[0]:.2f}-{firsts[-1]:.2f} s; batched {batched}"
            )


def _run_dir(data_dir: Path) -> Path:
    folder = data_dir / "runs" / "1"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


if __name__ == "__main__":
    main()
