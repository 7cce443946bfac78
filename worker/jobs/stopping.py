"""A pool process's SIGTERM: the service is stopping (`serve` signals each worker's process
group, `docker compose stop` the container).

Celery's pool processes die of SIGTERM by default (billiard's handler), and the worker's main
process then logs every task they were running as a `WorkerLostError` traceback, though
nothing went wrong. Here a pool process ignores the signal and finishes what it is doing:
the main process is in its warm shutdown, waiting for it, and then ends it cleanly. A
training task notes the signal instead (`noted`) and forwards it to its training process,
which checkpoints and puts its run back on the queue (`tasks/train.py`); a short task (a
sample, a preparation) ends as it would; whatever outlasts the stop's grace period is killed
with its group, and the leases bring its work back at the next start."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_requested = threading.Event()


def _note(_signum: int, _frame: object) -> None:
    _requested.set()


def install() -> None:
    """In a pool process, from `worker_process_init`: SIGTERM ignored. billiard installs its
    own (fatal) handlers after that hook, but leaves a signal that is ignored as it is."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


@contextmanager
def noted() -> Iterator[None]:
    """While a task that must hear of the stop runs: SIGTERM is noted (`requested`), and a
    process it starts gets SIGTERM's default action back when it execs."""
    previous = signal.signal(signal.SIGTERM, _note)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def requested() -> bool:
    """Whether SIGTERM came while `noted`."""
    return _requested.is_set()
