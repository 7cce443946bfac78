"""The engine: tokenizers, prepare, model, training, sampling and checkpoint I/O.

Plain Python on torch, numpy, tiktoken, tokenizers and safetensors (pyarrow and zstandard
for the corpus formats). Nothing here imports FastAPI, Celery or a database, so the CLI, the
benchmarks, the Celery tasks and a bare GPU box all use it as it is.
"""

import os
import time
from pathlib import Path

# torch's OpenMP threads wait for work by spinning (libgomp's default) or by sleeping
# (OMP_WAIT_POLICY=PASSIVE). Measured on 2 vCPUs (docs/benchmarks.md): with the cores free,
# spinning makes a 2-thread tiny step 1.45-1.6x faster; with one other busy process, the
# spinning threads steal its core and the step is 2x slower than waiting passively. So each
# process looks before torch loads (the engine's modules import it after this): PASSIVE when
# other tasks are runnable at that moment, libgomp's default otherwise; long-lived service
# processes wait passively (`wait_passively`). A policy the user set wins; one chosen here is
# marked, so a child process (a training run) chooses again.
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
    """Set (or leave unset) OMP_WAIT_POLICY for this process; returns what it holds."""
    if _set_by_user():
        return os.environ["OMP_WAIT_POLICY"]
    os.environ[_CHOSEN] = "1"
    if _others_runnable():
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        return "PASSIVE"
    os.environ.pop("OMP_WAIT_POLICY", None)
    return None


choose_wait_policy()


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
