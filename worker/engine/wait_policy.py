"""How torch's OpenMP threads wait for work: chosen explicitly, where a process that trains or
samples starts, before torch loads.

torch's OpenMP threads wait for work by spinning (libgomp's default) or by sleeping
(OMP_WAIT_POLICY=PASSIVE). Measured on 2 vCPUs (docs/benchmarks.md): with the cores free,
spinning makes a 2-thread tiny step 1.45-1.6x faster; with one other busy process, the spinning
threads steal its core and the step is 2x slower than waiting passively. So a training or
sampling process looks before torch loads (`choose_wait_policy`): PASSIVE when other tasks are
runnable at that moment, libgomp's default otherwise; long-lived service processes wait
passively (`wait_passively`). A policy the user set wins; one chosen here is marked, so a child
process (a training run) chooses again.

libgomp reads the variable once, when torch loads it: calling either function after `import
torch` changes only what child processes inherit. Importing this module does nothing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

_CHOSEN = "STUDIO_OMP_WAIT_CHOSEN"


def _others_runnable(samples: int = 5, gap_s: float = 0.002) -> int:
    """The most tasks runnable besides this one in a few looks at /proc/loadavg (0 where
    there is none)."""
    most = 0
    for _ in range(samples):
        try:
            loadavg = Path("/proc/loadavg").read_text()
            running = int(loadavg.split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return 0
        most = max(most, running - 1)
        time.sleep(gap_s)
    return most


def _set_by_user() -> bool:
    return bool(os.environ.get("OMP_WAIT_POLICY")) and not os.environ.get(_CHOSEN)


def choose_wait_policy() -> str | None:
    """For a process that trains or samples: set (or leave unset) OMP_WAIT_POLICY by how busy
    the CPUs are now; returns what it holds. Call before torch loads."""
    if _set_by_user():
        return os.environ["OMP_WAIT_POLICY"]
    os.environ[_CHOSEN] = "1"
    if _others_runnable():
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        return "PASSIVE"
    os.environ.pop("OMP_WAIT_POLICY", None)
    return None


def wait_passively() -> None:
    """For a long-lived process (the API, a worker), which starts quiet and then shares its
    CPUs with everything else: PASSIVE, marked as chosen, so the training processes it starts
    choose again. Call before torch loads; a policy the user set wins."""
    if _set_by_user():
        return
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    os.environ[_CHOSEN] = "1"


def unchosen_environment() -> dict[str, str]:
    """This process's environment without a wait policy chosen here: for another program
    (nanoGPT's own train.py, in the benchmarks) to run as it would on its own."""
    env = dict(os.environ)
    if env.pop(_CHOSEN, None):
        env.pop("OMP_WAIT_POLICY", None)
    return env
