"""What only a GPU can show: CUDA training with bf16, torch.compile, fp16 + GradScaler, MFU
against the real device, and KV-cache sampling on the device.

    python bench/gpu_check.py [--iters 200] [--device cuda]

Runs nanoGPT's Shakespeare-char model on the bundled corpus; prints the runtime the engine
chose, the log lines (tokens/s, MFU, memory), and sampling figures. With --device cpu and a
few iterations it doubles as a smoke test of this script.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from worker.engine.events import StartInfo, StepEvent, TrainCallbacks
from worker.engine.generate import Sampling, generate_ids
from worker.engine.prepare import prepare
from worker.engine.presets import preset_config
from worker.engine.sample import SampleOptions, load_sampler
from worker.engine.train import train

SHAKESPEARE = Path(__file__).resolve().parents[1] / "app" / "sample_data" / "tinyshakespeare.txt"


class Show(TrainCallbacks):
    def __init__(self) -> None:
        self.logs: list[StepEvent] = []

    def on_start(self, info: StartInfo) -> None:
        print(f"  start: {info.to_dict()}", flush=True)

    def on_step(self, event: StepEvent) -> None:
        if not event.logged:
            return
        self.logs.append(event)
        mfu = f"{event.mfu * 100:.1f}%" if event.mfu is not None else "n/a"
        memory = (event.memory_bytes or 0) / 2**20
        print(
            f"  iter {event.iter}: loss {event.loss:.4f} {event.tokens_per_sec:,.0f} tok/s "
            f"mfu {mfu} mem {memory:.0f} MiB",
            flush=True,
        )

    def on_message(self, line: str) -> None:
        if line.startswith("step"):
            print(f"  {line}", flush=True)


def run(data: Path, out: Path, device: str, iters: int, eval_iters: int, **knobs: object) -> Show:
    cfg = preset_config(
        "shakespeare-char",
        {
            "data_dir": str(data),
            "out_dir": str(out),
            "device": device,
            "max_iters": iters,
            "eval_interval": max(iters // 2, 1),
            "eval_iters": eval_iters,
            "log_interval": max(iters // 10, 1),
            **knobs,
        },
    )
    show = Show()
    started = time.perf_counter()
    train(cfg, show)
    print(f"  wall {time.perf_counter() - started:.1f} s", flush=True)
    return show


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--eval-iters", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=1000)
    args = parser.parse_args()
    if args.device.startswith("cuda"):
        print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        prepare(SHAKESPEARE, data, tokenizer="char")
        print("bf16 (auto), compile auto:", flush=True)
        run(data, Path(tmp) / "auto", args.device, args.iters, args.eval_iters)
        if args.device.startswith("cuda"):
            print("fp16 + GradScaler, no compile:", flush=True)
            run(data, Path(tmp) / "fp16", args.device, 40, 5, dtype="float16", compile=False)

        sampler = load_sampler(Path(tmp) / "auto", device=args.device)
        greedy = Sampling(temperature=0.0, vocab_limit=sampler.tokenizer.vocab_size)
        prompt = sampler.encode_prompt("ROMEO:")
        n = min(600, args.tokens)
        cached = list(generate_ids(sampler.model, list(prompt), n, greedy))
        plain = list(generate_ids(sampler.model, list(prompt), n, greedy, use_cache=False))
        print(f"greedy cached == uncached over {n} tokens: {cached == plain}", flush=True)
        for use_cache in (True, False):
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            started = time.perf_counter()
            list(
                generate_ids(sampler.model, list(prompt), args.tokens, greedy, use_cache=use_cache)
            )
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            took = time.perf_counter() - started
            name = "KV cache" if use_cache else "recompute (window rule)"
            print(f"{name}: {args.tokens} tokens in {took:.2f} s ({args.tokens / took:,.0f} tok/s)")
        text = "".join(sampler.stream("ROMEO:", SampleOptions(max_new_tokens=200, seed=1)))
        print(f"sample:\nROMEO:{text}", flush=True)


if __name__ == "__main__":
    main()
