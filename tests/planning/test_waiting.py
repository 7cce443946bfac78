"""What a queued run waits for when no live worker consumes its queue, in words, from the
queues the workers report (the registry's records, as worker.jobs.lifecycle writes them)."""

from __future__ import annotations

from app.planning.routing import train_queues_for
from app.planning.waiting import LiveWorkers, gpus_offered


def workers(*queues: list[str]) -> LiveWorkers:
    return LiveWorkers(tuple(frozenset(q) for q in queues))


def test_a_run_no_live_worker_can_take_says_what_it_waits_for() -> None:
    one_gpu = workers(train_queues_for(1), train_queues_for(0), ["prepare", "sample"])
    assert one_gpu.largest_gpu_offer == 1
    assert one_gpu.waiting_for("train.cuda.2") == (
        "a worker with 2 GPUs; none of the 3 live workers has more than 1"
    )
    assert one_gpu.waiting_for("train.cuda.1") is None  # only its turn and a free GPU
    assert one_gpu.waiting_for("train") is None
    alone = workers(train_queues_for(0))
    assert (
        alone.waiting_for("train.cuda.1") == "a worker with 1 GPU; the only live worker has no GPU"
    )
    no_trainer = workers(["prepare", "sample"], ["prepare"])
    assert no_trainer.waiting_for("train") == (
        "a worker that consumes train; none of the 2 live workers does"
    )
    assert workers(["sample"]).waiting_for("train") == (
        "a worker that consumes train; the only live worker does not consume train"
    )
    assert workers().waiting_for("train.cuda.8") == "a worker with 8 GPUs; no worker is live"
    assert workers().largest_gpu_offer == 0


def test_an_offer_is_the_largest_gpu_queue_consumed() -> None:
    assert gpus_offered(train_queues_for(4)) == 4
    assert gpus_offered(["train.cuda.8", "prepare"]) == 8  # a host kept for 8-GPU runs
    assert gpus_offered(["train", "sample"]) == 0
