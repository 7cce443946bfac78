"""How fast prepare turns text into token files, and how much memory it needs, by file size.

    .venv/bin/python bench/prepare_speed.py [--sizes 10,100,1000] [--tokenizers char,gpt2]

Inputs are tinyshakespeare.txt repeated to each size (MB) in a temporary directory. Each run
is a fresh subprocess, so its peak RSS (VmHWM) is prepare's own, imports included. Columns:
seconds and MB/s are wall clock for prepare() alone (both passes, fsync included); CPU s is
user + system time over all threads; RSS0 is the resident size after imports, before
prepare; peak is VmHWM at the end; 1-core ref is tiktoken's single-thread GPT-2 speed on
tinyshakespeare.txt measured just before (a shared host's cores vary in speed over time).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tiktoken

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._machine import cpu_model, cpu_seconds, vm_kib

REPO = Path(__file__).resolve().parent.parent
SOURCE = Path("/work/shared/data/tinyshakespeare.txt")
MB = 1_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100,1000", help="input sizes in MB")
    parser.add_argument("--tokenizers", default="char,gpt2")
    parser.add_argument("--source", type=Path, default=SOURCE, help="text to repeat")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per cell; the fastest is shown (busy hosts)"
    )
    parser.add_argument(
        "--child", nargs=3, metavar=("KIND", "INPUT", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        run_child(*args.child)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    kinds = args.tokenizers.split(",")
    print(f"{cpu_model()}, {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} at start")
    columns = (
        "tokenizer",
        "input MB",
        "tokens",
        "seconds",
        "MB/s",
        "CPU s",
        "RSS0 MB",
        "peak MB",
        "1-core ref MB/s",
    )
    print(" | ".join(columns))
    with tempfile.TemporaryDirectory(prefix="prepare-bench-") as scratch:
        for size in sizes:
            text_path = Path(scratch) / f"input-{size}MB.txt"
            make_input(args.source, text_path, size * MB)
            mb = text_path.stat().st_size / MB
            for kind in kinds:
                runs = [
                    run_in_subprocess(kind, text_path, Path(scratch) / f"out-{kind}")
                    for _ in range(args.repeat)
                ]
                row = min(runs, key=lambda run: run["seconds"])
                cells = (
                    kind,
                    f"{mb:.1f}",
                    f"{row['tokens']:,}",
                    f"{row['seconds']:.2f}",
                    f"{mb / row['seconds']:.1f}",
                    f"{row['cpu_seconds']:.2f}",
                    f"{row['rss_before_mb']:.0f}",
                    f"{row['peak_rss_mb']:.0f}",
                    f"{row['reference_mb_s']:.1f}",
                )
                print(" | ".join(cells), flush=True)
            text_path.unlink()


def make_input(source: Path, path: Path, size: int) -> None:
    """Whole copies of source until the file reaches `size` bytes."""
    text = source.read_bytes()
    with path.open("wb") as file:
        written = 0
        while written < size:
            file.write(text)
            written += len(text)


def run_in_subprocess(kind: str, text_path: Path, out_dir: Path) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", kind, str(text_path), str(out_dir)]
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO)
    for path in out_dir.glob("*"):
        path.unlink()
    out_dir.rmdir()
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_child(kind: str, input_path: str, out_dir: str) -> None:
    sys.path.insert(0, str(REPO))
    from worker.engine.data.prepare import prepare
    from worker.engine.tokenizers.gpt2 import gpt2_encoding

    reference = reference_speed(gpt2_encoding())  # also builds the encoding outside the timing
    rss_before = vm_kib("VmRSS")
    start, cpu_start = time.perf_counter(), cpu_seconds()
    result = prepare(input_path, out_dir, tokenizer=kind)
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    report = {
        "tokens": result.train_tokens + result.val_tokens,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "rss_before_mb": rss_before / 1024,
        "peak_rss_mb": vm_kib("VmHWM") / 1024,
        "reference_mb_s": reference,
    }
    print(json.dumps(report))


def reference_speed(encoding: tiktoken.Encoding) -> float:
    """tiktoken's own single-thread speed right now, MB/s: this host's cores are shared and
    their speed drifts, so each row says how fast a core was when it ran."""
    text = SOURCE.read_text(encoding="utf-8")
    start = time.perf_counter()
    encoding.encode_ordinary(text)
    return len(text.encode("utf-8")) / MB / (time.perf_counter() - start)


if __name__ == "__main__":
    main()
