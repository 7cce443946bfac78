"""Progress callbacks for the engine that write (and so heartbeat) at most once a second."""

from __future__ import annotations

import time
from collections.abc import Callable

PROGRESS_EVERY_S = 1.0


def throttled(write: Callable[[float], object]) -> Callable[[int, int], None]:
    last = 0.0

    def progress(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= PROGRESS_EVERY_S:
            last = now
            write(done / total if total else 1.0)

    return progress
