"""The memory guard's estimate (worker/engine/config/memory_estimate.py) against measured peaks.

    python bench/memory_estimate.py [--iters 3]

Each shape trains a few iterations on Tiny Shakespeare (char) on the CPU in a fresh process,
which reports its peak resident set (ru_maxrss): the whole process, and the part above what
it held once torch was imported and the data opened (the tensors). On CUDA the figure to
compare is torch.cuda.max_memory_allocated; this machine has no GPU. Prints one line a shape.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHAKESPEARE = ROOT / "app" / "sample_data" / "tinyshakespeare.txt"

# (label, knobs): the tiny CPU recipe, activation-heavy, state-heavy, math and flash attention
SHAPES: list[tuple[str, dict[str, int]]] = [
    ("tiny-cpu 4x128 T64 B12", {"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 64,
                                "batch_size": 12}),
    ("6x384 T256 B16 (math attn)", {"n_layer": 6, "n_head": 6, "n_embd": 384, "block_size": 256,
                                    "batch_size": 16}),
    ("4x256 T512 B8 (flash attn)", {"n_layer": 4, "n_head": 4, "n_embd": 256, "block_size": 512,
                                    "batch_size": 8}),
    ("2x128 T64 B512 (activations)", {"n_layer": 2, "n_head": 4, "n_embd": 128, "block_size": 64,
                                      "batch_size": 512}),
    ("8x768 T64 B2 (weights)", {"n_layer": 8, "n_head": 12, "n_embd": 768, "block_size": 64,
                                "batch_size": 2}),
]  # fmt: skip

CHILD = r"""
import json, resource, sys
from worker.engine.wait_policy import choose_wait_policy
choose_wait_policy()
from worker.engine.config.train_config import TrainConfig
from worker.engine.training.loop import train
from worker.engine.data.prepare import token_memmap
knobs = json.loads(sys.argv[1])
cfg = TrainConfig.from_mapping(knobs)
token_memmap(cfg.data_dir, "train"); token_memmap(cfg.data_dir, "val")
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
train(cfg)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"base": base, "peak": peak}))
"""


def measure(knobs: dict[str, object]) -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(knobs)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=3)
    args = parser.parse_args()

    from worker.engine.config.memory_estimate import estimate_memory
    from worker.engine.config.train_config import TrainConfig
    from worker.engine.data.prepare import prepare, read_meta

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        prepare(SHAKESPEARE, data, tokenizer="char")
        vocab = int(read_meta(data)["vocab_size"])
        print(f"{'shape':32} {'estimate':>9} {'peak RSS':>9} {'ratio':>6}   "
              f"{'tensors est.':>12} {'measured':>9} {'ratio':>6}")  # fmt: skip
        for label, shape in SHAPES:
            knobs = {**shape, "data_dir": str(data), "out_dir": str(Path(tmp) / label[:8]),
                     "device": "cpu", "dtype": "float32", "compile": False, "dropout": 0.0,
                     "max_iters": args.iters, "lr_decay_iters": args.iters, "warmup_iters": 0,
                     "eval_interval": 10_000, "eval_iters": 1, "log_interval": 1,
                     "gradient_accumulation_steps": 1}  # fmt: skip
            estimate = estimate_memory(TrainConfig.from_mapping(knobs), vocab, "cpu")
            measured = measure(knobs)
            tensors_est = estimate.state_bytes + estimate.activation_bytes
            tensors = measured["peak"] - measured["base"]
            mib = 2**20
            print(
                f"{label:32} {estimate.total_bytes / mib:8.0f}M {measured['peak'] / mib:8.0f}M "
                f"{estimate.total_bytes / measured['peak']:6.2f}   {tensors_est / mib:11.0f}M "
                f"{tensors / mib:8.0f}M {tensors_est / max(tensors, 1):6.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
