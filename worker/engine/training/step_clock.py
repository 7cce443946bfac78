"""How long the training loop's steps take, as its log lines report it."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Lap:
    dt: float  # seconds an iteration took since the last log line (evaluations left out)
    dt_avg: float  # its running average: what the MFU and the ETA use
    elapsed_s: float  # since the loop began
    eval_s: float  # the last evaluation's length (0 before the first), for the ETA


class StepClock:
    """Times the iterations between two log lines, leaving evaluations out."""

    def __init__(self) -> None:
        self.started = self.since = time.perf_counter()
        self.iters = 0  # iterations since `since`
        self.laps = 0
        self.dt_avg: float | None = None
        self.eval_s = 0.0

    def stepped(self) -> None:
        self.iters += 1

    def evaluated(self, seconds: float) -> None:
        """An evaluation took `seconds`: it is not step time."""
        self.eval_s = seconds
        self.since, self.iters = time.perf_counter(), 0

    def lap(self) -> Lap:
        """At a log line: the time per iteration since the last one."""
        now = time.perf_counter()
        dt = (now - self.since) / self.iters
        # The first interval holds warm-up (and compilation): the average starts afresh at
        # the second, then smooths as nanoGPT's running MFU does.
        self.laps += 1
        avg = dt if self.dt_avg is None or self.laps <= 2 else 0.9 * self.dt_avg + 0.1 * dt
        self.dt_avg = avg
        self.since, self.iters = now, 0
        return Lap(dt=dt, dt_avg=avg, elapsed_s=now - self.started, eval_s=self.eval_s)
