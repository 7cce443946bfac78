"""Where a training step's time goes, per phase and per op, for both archs, on a CPU (fp32 or bf16).

    OMP_NUM_THREADS=1 python bench/step_profile.py --size tiny --steps 30 [--ops 12]
    python bench/step_profile.py --size 6x384 --steps 4

Builds the model and optimizer exactly as a run does (presets tiny-cpu / shakespeare-char and
their -fast twins; batch and block from the preset), then times forward, backward, gradient
clipping, optimizer step and zero_grad separately. Times are CPU seconds of this process
(`time.process_time`), which a shared machine disturbs far less than wall time; with more
than one thread they add up across threads; `wall` is the median wall time of a whole step.
`--threads 1,2` alternates torch's intra-op thread count. `--ops` prints torch.profiler's
top ops.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from collections.abc import Callable

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from worker.engine.config.presets import preset_config
from worker.engine.device import attention_kernel, resolve_runtime
from worker.engine.model.build import build_model
from worker.engine.training.optimizers import build_optimizer

SIZES = {
    "tiny": ("tiny-cpu", "tiny-cpu-fast"),
    "6x384": ("shakespeare-char", "shakespeare-char-fast"),
}


def profile(
    preset: str, steps: int, ops: int, attention: str = "auto", dtype: str = "float32"
) -> dict[str, float]:
    cfg = preset_config(preset, {"device": "cpu", "compile": False, "dtype": dtype})
    runtime = resolve_runtime("cpu", dtype, False)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bfloat16")
    torch.manual_seed(0)
    model = build_model(cfg.model_args(65))
    optimizer = build_optimizer(model, cfg, "cpu")
    kernel = attention_kernel(runtime, cfg.block_size)
    if attention != "auto":  # to compare the kernels the engine chooses between
        backend = SDPBackend.MATH if attention == "math" else SDPBackend.FLASH_ATTENTION
        kernel = lambda: sdpa_kernel(backend)  # noqa: E731
    x = torch.randint(0, 65, (cfg.batch_size, cfg.block_size))
    phases: dict[str, list[float]] = defaultdict(list)

    def timed(name: str, fn: Callable[[], object]) -> object:
        began = time.process_time()
        out = fn()
        phases[name].append(time.process_time() - began)
        return out

    def step() -> None:
        with kernel(), autocast:
            _, loss = timed("forward", lambda: model(x, x))
        timed("backward", lambda: loss.backward())  # type: ignore[union-attr]
        if cfg.grad_clip > 0:
            timed("clip", lambda: torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip))
        timed("optimizer", optimizer.step)
        timed("zero_grad", lambda: optimizer.zero_grad(set_to_none=True))

    for _ in range(2):
        step()
    phases.clear()
    walls = []
    for _ in range(steps):
        began = time.perf_counter()
        step()
        walls.append(time.perf_counter() - began)
    medians = {name: statistics.median(values) * 1000 for name, values in phases.items()}
    medians["step"] = sum(medians.values())
    medians["wall"] = statistics.median(walls) * 1000
    if ops:
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for _ in range(min(steps, 5)):
                step()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=ops))
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--ops", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--arch", choices=("gpt2", "modern"), help="only this arch")
    parser.add_argument("--threads", default="", help="thread counts to alternate, e.g. 1,2")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument(
        "--attention", default="auto", help="kernels to alternate: auto (the engine's), math, flash"
    )
    args = parser.parse_args()
    threads = [int(n) for n in args.threads.split(",") if n] or [torch.get_num_threads()]
    print(f"torch {torch.__version__}; threads {threads}")
    for number in range(1, args.rounds + 1):
        for preset in SIZES[args.size]:
            if args.arch and (args.arch == "modern") != preset.endswith("-fast"):
                continue
            for count in threads:
                for attention in args.attention.split(","):
                    torch.set_num_threads(count)
                    ops = args.ops if number == 1 else 0
                    ms = profile(preset, args.steps, ops, attention, args.dtype)
                    shown = ", ".join(f"{k} {v:.1f}" for k, v in ms.items())
                    print(f"round {number} {preset:<22} {count} thread(s) {attention}, "
                          f"ms: {shown}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
