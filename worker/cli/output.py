"""What the commands print: an engine error as nanoGPT-style text, a progress bar."""

from __future__ import annotations

import sys
import time

from worker.engine.errors import EngineError


def print_error(exc: EngineError) -> None:
    where = f"{exc.field}: " if exc.field else ""
    print(f"error: {where}{exc.message}", file=sys.stderr)


class ProgressBar:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.started = time.monotonic()
        self.drawn = 0.0

    def update(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.drawn < 0.1 and done < total:
            return
        self.drawn = now
        fraction = done / total if total else 1.0
        filled = int(30 * fraction)
        rate = done / max(now - self.started, 1e-9) / 1e6
        sys.stderr.write(
            f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {fraction:6.1%} {rate:7.1f} MB/s"
        )
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")
