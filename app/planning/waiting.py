"""Why a queued run waits, when it is not its turn that it waits for: no live worker consumes
its train queue (`app.planning.routing`), so it stays queued until one joins. Read from the
workers' own reports in the broker's registry (`worker.jobs.lifecycle`); a worker's offer is
the largest `train.cuda.<N>` queue it consumes (0: CPU runs only)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from app.planning.routing import CPU_QUEUE, is_train_queue
from app.store.broker import BrokerError, read_workers
from app.store.errors import UnavailableError
from app.store.models import Run
from app.store.settings import Settings
from app.store.states import RunState


@dataclass(frozen=True)
class LiveWorkers:
    """The workers that reported in the registry's time to live, as consumers of queues."""

    queues: tuple[frozenset[str], ...]  # each live worker's queues

    @property
    def count(self) -> int:
        return len(self.queues)

    @property
    def largest_gpu_offer(self) -> int:
        """The most GPUs a live worker gives one run (0: none trains on a GPU)."""
        return max((gpus_offered(q) for q in self.queues), default=0)

    def waiting_for(self, queue: str) -> str | None:
        """What a run on `queue` waits for when no live worker consumes it, e.g. "a worker
        with 2 GPUs; none of the 3 live workers has more than 1"; None when one does (then
        it waits only for its turn and a free device)."""
        if any(queue in q for q in self.queues):
            return None
        needed = gpus_offered([queue])
        wanted = f"a worker with {_gpus(needed)}" if needed else f"a worker that consumes {queue}"
        if not self.queues:
            return f"{wanted}; no worker is live"
        if self.count == 1:
            has = f"has {_gpus(self.largest_gpu_offer)}" if needed else f"does not consume {queue}"
            return f"{wanted}; the only live worker {has}"
        if needed:
            return f"{wanted}; none of the {self.count} live workers has more than " + str(
                self.largest_gpu_offer
            )
        return f"{wanted}; none of the {self.count} live workers does"


def _gpus(count: int) -> str:
    return "no GPU" if count == 0 else f"{count} GPU{'s' if count != 1 else ''}"


def gpus_offered(queues: Iterable[str]) -> int:
    """The largest N of the train.cuda.<N> queues among `queues`."""
    counts = [int(q.rsplit(".", 1)[1]) for q in queues if is_train_queue(q) and q != CPU_QUEUE]
    return max(counts, default=0)


def live_workers(settings: Settings) -> LiveWorkers | None:
    """None when the broker cannot be read: then nobody knows what waits for what."""
    try:
        records = read_workers(settings)
    except (BrokerError, UnavailableError):
        return None
    return LiveWorkers(tuple(frozenset(_queues(r)) for r in records))


def _queues(record: dict[str, Any]) -> list[str]:
    queues = record.get("queues")
    return [str(q) for q in queues] if isinstance(queues, list) else []


def queue_waits_for(settings: Settings, queue: str) -> str | None:
    """What a run on `queue` would wait for now (a new run's warning, a dry run's answer)."""
    workers = live_workers(settings)
    return workers.waiting_for(queue) if workers is not None else None


def waiting_reasons(settings: Settings, runs: Iterable[Run]) -> dict[int, str]:
    """{run id: what it waits for} of the queued runs among `runs` that no live worker could
    take; reads the registry only when one of them is queued."""
    queued = [r for r in runs if r.state == RunState.QUEUED]
    workers = live_workers(settings) if queued else None
    if workers is None:
        return {}
    reasons = {r.id: workers.waiting_for(r.queue) for r in queued}
    return {run_id: reason for run_id, reason in reasons.items() if reason is not None}
