"""Parsing an uploaded config file (`POST /api/v1/configs/parse`'s work, app.planning.
config_exchange.read_config) by size: linear in the text now, side by side with the old way
of finding each ignored key's line (a rescan of the whole text per key, issue 20).

    python bench/config_parse.py [--repeat 3]

Each file is made of lines setting names that are not training settings (every one is
listed as ignored, the costly case), up to 1,000,000 characters (the API's limit). Prints
the median of --repeat parses per size and format, and the machine's CPU flags.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.planning.config_exchange import read_config
from bench._machine import cpu_flags, machine
from worker.engine.config.files import parse_config_text

LINE = {
    "toml": "not_a_setting_{i:07d} = 12345678901",
    "json": '"not_a_setting_{i:07d}": 12345678901,',
    "nanogpt": "not_a_setting_{i:07d} = 12345678901",
}
SUFFIX = {"toml": ".toml", "json": ".json", "nanogpt": ".py"}


def config_text(kind: str, chars: int) -> str:
    lines, size = [], 2
    while size + len(LINE[kind]) < chars:
        lines.append(LINE[kind].format(i=len(lines)))
        size += len(lines[-1]) + 1
    if kind == "json":
        return "{\n" + "\n".join(lines).rstrip(",") + "\n}\n"
    return "\n".join(lines) + "\n"


def old_way(text: str, name: str) -> None:
    """The line lookup before: one regex scan of the whole text per ignored key."""
    for key in parse_config_text(text, name).values:
        pattern = re.compile(rf'^\s*"?{re.escape(key)}"?\s*[=:]')
        for line in text.splitlines():
            if pattern.match(line):
                break


def median_s(parse: Callable[[str, str], object], text: str, name: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        parse(text, name)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--old-up-to", type=int, default=100_000, help="chars; the old way is slow")
    args = parser.parse_args()
    print(f"machine: {machine()}; CPU flags: {cpu_flags()}")
    print(f"{'format':8} {'chars':>9} {'keys':>6} {'now (ms)':>9} {'old (ms)':>9}")
    for kind in ("toml", "json", "nanogpt"):
        for chars in (25_000, 100_000, 1_000_000):
            text = config_text(kind, chars)
            name = "bench" + SUFFIX[kind]
            now = median_s(read_config, text, name, args.repeat)
            old = "-"
            if kind != "nanogpt" and chars <= args.old_up_to:
                old = f"{median_s(old_way, text, name, 1) * 1000:9.0f}"
            keys = text.count("\n") - (2 if kind == "json" else 0)
            print(f"{kind:8} {len(text):9,} {keys:6,} {now * 1000:9.0f} {old:>9}", flush=True)


if __name__ == "__main__":
    main()
