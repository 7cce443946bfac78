"""How fast prepare trains a byte-level BPE on the training text, and how fast it encodes.

    .venv/bin/python bench/bpe_training.py [--sizes 10,100] [--vocab 4096] [--source FILE]

Inputs: the lines of tinyshakespeare.txt shuffled (fixed seed) and repeated up to each size
(MB), in a temporary directory. Repeated text has few distinct words (~25k), so the trainer's
merge phase is cheaper than on a varied corpus of the same size: the figures are its
counting throughput more than its merging cost. Columns: training wall seconds and MB/s
(train_bpe over the text streamed in 8 MB chunks, as prepare does), and the CPU seconds of
all its threads with MB per CPU second (steadier on a shared host); then, on the first size
only, encoding MB/s of the trained BPE (encode_bulk, all cores) with each of its bulk
encoders, Hugging Face's and tiktoken's from its ranks (checked to give the same ids), beside
tiktoken's GPT-2 (the same chunks, the same cores), in alternating rounds.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from worker.engine.data.textscan import iter_text_chunks
from worker.engine.tokenizers.bpe import train_bpe
from worker.engine.tokenizers.gpt2 import GPT2Tokenizer, encoding_threads

SOURCE = Path("/work/shared/data/tinyshakespeare.txt")
MB = 1_000_000


def shuffled_corpus(source: Path, target: Path, size: int, seed: int = 13) -> None:
    """source's lines, shuffled afresh for each copy, until `size` bytes."""
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    rng = random.Random(seed)
    written = 0
    with target.open("w", encoding="utf-8") as out:
        while written < size:
            rng.shuffle(lines)
            block = "".join(lines)[: size - written]
            out.write(block)
            written += len(block.encode("utf-8"))


def chunks(path: Path) -> Iterator[str]:
    for chunk in iter_text_chunks(path):
        yield chunk.text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10", help="corpus sizes in MB (docs: 10,100)")
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--rounds", type=int, default=2, help="alternating encode rounds")
    args = parser.parse_args()
    print(
        f"{os.cpu_count()} CPUs ({encoding_threads()} usable); "
        f"load average {os.getloadavg()[0]:.2f} at start; vocab {args.vocab}"
    )
    print(f"{'corpus MB':>10} {'train s':>8} {'MB/s':>6} {'CPU s':>6} {'MB/CPU s':>8} {'vocab':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        first = None
        for size_mb in (int(s) for s in args.sizes.split(",")):
            path = Path(tmp) / f"corpus-{size_mb}.txt"
            shuffled_corpus(args.source, path, size_mb * MB)
            start, cpu = time.perf_counter(), time.process_time()
            bpe = train_bpe(chunks(path), args.vocab)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            print(
                f"{size_mb:>10} {seconds:>8.1f} {size_mb / seconds:>6.2f} {cpu:>6.1f} "
                f"{size_mb / cpu:>8.2f} {bpe.vocab_size:>6}",
                flush=True,
            )
            if first is None:
                first = (path, bpe, size_mb)
        assert first is not None
        path, bpe, size_mb = first
        gpt2 = GPT2Tokenizer()
        texts = list(chunks(path))
        print(f"  tiktoken gives HF's ids on all of it: {bpe.bulk_encoders_agree(texts)}")
        timings: dict[str, list[float]] = {"bpe-hf": [], "bpe-tiktoken": [], "gpt2": []}
        for _ in range(args.rounds):
            for name in timings:
                tokenizer = gpt2 if name == "gpt2" else bpe
                if name != "gpt2":
                    bpe.use_bulk_encoder(name.removeprefix("bpe-"))  # type: ignore[arg-type]
                start = time.perf_counter()
                tokens = sum(tokenizer.encode_bulk(t).size for t in texts)
                timings[name].append(time.perf_counter() - start)
                print(f"  encode {size_mb} MB with {name}: {tokens:,} tokens", flush=True)
        for name, seconds in timings.items():
            best = min(seconds)
            print(f"encode {name:>12}: best {best:.2f} s = {size_mb / best:.2f} MB/s of {seconds}")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
