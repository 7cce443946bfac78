"""The whole service with real processes: upload → prepare → train → live metrics → sample,
cancel and resume, duplicates, a killed worker, failures. Tiny models, CPU."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sse_client import until_done
from studio_stack import Stack, training_process_pid

from app.store.queues import TRAIN, send

SHAKESPEARE = Path(__file__).resolve().parents[2] / "app" / "sample_data" / "tinyshakespeare.txt"
TINY = {"n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 16, "batch_size": 4,
        "max_iters": 40, "lr_decay_iters": 40, "warmup_iters": 2, "eval_interval": 10,
        "eval_iters": 2, "log_interval": 1, "device": "cpu", "compile": False,
        "always_save_checkpoint": True, "gradient_accumulation_steps": 1}  # fmt: skip
FINISHED = ("succeeded", "failed", "cancelled")


def wait_for(api, run_id: int, until, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = api.get(f"/runs/{run_id}").json()
        if until(run):
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} stuck: {run}")


def finished(run) -> bool:
    return run["state"] in FINISHED


@pytest.fixture(scope="module")
def dataset(stack):
    """300 kB of Shakespeare, uploaded as multipart: big enough to be described by a job."""
    with stack.client() as api:
        text = SHAKESPEARE.read_bytes()[:300_000]
        response = api.post("/datasets", files={"file": ("../../etc/passwd", text, "text/plain")})
        assert response.status_code == 201, response.text
        dataset = response.json()
        assert dataset["name"] == "passwd"  # a display name only; stored as input.txt
        deadline = time.monotonic() + 60
        while dataset["state"] == "inspecting" and time.monotonic() < deadline:
            time.sleep(0.2)
            dataset = api.get(f"/datasets/{dataset['id']}").json()
        assert dataset["state"] == "ready" and dataset["characters"] == 300_000
        return dataset


def start(api, dataset, **config):
    body = {"dataset_id": dataset["id"], "tokenizer": "char", "config": {**TINY, **config}}
    response = api.post("/runs", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_upload_prepare_train_stream_sample(api, dataset):
    run = start(api, dataset)
    assert run["state"] in ("preparing", "queued")
    done = wait_for(api, run["id"], finished)
    assert done["state"] == "succeeded", done
    assert done["iter"] == 40 and done["best_val_loss"] is not None and done["device"] == "cpu"

    history = api.get(f"/runs/{run['id']}/metrics").json()
    assert [p["iter"] for p in history["points"]] == list(range(41))
    assert [p["iter"] for p in history["points"] if p["val_loss"] is not None] == [
        0,
        10,
        20,
        30,
        40,
    ]
    thin = api.get(f"/runs/{run['id']}/metrics", params={"points": 10}).json()
    assert thin["downsampled"] and len(thin["points"]) <= 12
    assert {0, 10, 20, 30, 40} <= {p["iter"] for p in thin["points"]}

    events, end = until_done(api, f"/runs/{run['id']}/metrics/stream")
    assert [e.data["iter"] for e in events] == list(range(41))
    assert end.data["state"] == "succeeded"
    middle = events[20].id
    rest, _ = until_done(
        api, f"/runs/{run['id']}/metrics/stream", headers={"Last-Event-ID": str(middle)}
    )
    assert [e.id for e in rest] == [e.id for e in events[21:]]

    ckpts = {c["name"]: c for c in api.get(f"/runs/{run['id']}/checkpoints").json()}
    assert ckpts["ckpt.pt"]["iter"] == 40 and ckpts["ckpt.pt"]["size_bytes"] > 0
    blob = api.get(f"/runs/{run['id']}/checkpoints/ckpt.pt")
    assert blob.status_code == 200 and len(blob.content) == ckpts["ckpt.pt"]["size_bytes"]
    logs = api.get(f"/runs/{run['id']}/logs", params={"limit": 5000}).json()["items"]
    assert any("parameters" in line["line"] for line in logs)
    streamed, end = until_done(api, f"/runs/{run['id']}/logs/stream")
    assert [e.data["line"] for e in streamed] == [line["line"] for line in logs]

    sample = api.post(f"/runs/{run['id']}/samples", json={"prompt": "ROMEO:", "max_new_tokens": 30})
    assert sample.status_code == 200, sample.text
    body = sample.json()
    assert body["text"].startswith("ROMEO:") and len(body["completion"]) > 0 and body["iter"] == 40
    # A random seed each time unless fixed; the seed answered makes the same text again.
    again = {"prompt": "ROMEO:", "max_new_tokens": 30, "seed": body["seed"]}
    assert api.post(f"/runs/{run['id']}/samples", json=again).json()["text"] == body["text"]
    kept = api.get(f"/runs/{run['id']}/samples").json()["items"]
    assert [k["seed"] for k in kept[:2]] == [body["seed"]] * 2
    assert kept[0]["completion"] == body["completion"] and kept[0]["iter"] == 40
    assert body["sample"]["id"] == kept[1]["id"]
    with api.stream(
        "POST", f"/runs/{run['id']}/samples", json={"max_new_tokens": 20, "stream": True}
    ) as response:
        from sse_client import parse

        kinds = [e.event for e in parse(response.iter_lines())]
    assert kinds[0] == "start" and kinds[-1] == "done" and "token" in kinds
    _extremes_sample_without_error(api, run["id"])


# What the schema allows at its edges: 1e-40 once overflowed the sampler to NaN (a 500).
EXTREMES = [
    {"temperature": 1e-40},
    {"temperature": 5e-324, "top_k": 1_000_000, "top_p": 1e-6},
    {"temperature": 100.0, "top_k": 1, "top_p": 1.0},
]


def _extremes_sample_without_error(api, run_id: int) -> None:
    from sse_client import parse

    for extreme in EXTREMES:
        body = {"prompt": "ROMEO:", "max_new_tokens": 8, "seed": 1, **extreme}
        answer = api.post(f"/runs/{run_id}/samples", json=body)
        assert answer.status_code == 200, (extreme, answer.text)
        with api.stream(
            "POST", f"/runs/{run_id}/samples", json={**body, "stream": True}
        ) as response:
            events = list(parse(response.iter_lines()))
        assert [e.event for e in events if e.event in ("error", "done")] == ["done"], extreme
        assert events[-1].data["completion"] == answer.json()["completion"]


@pytest.mark.on_backend("postgresql")
def test_cancel_leaves_a_checkpoint_and_resume_continues_the_curve(api, dataset):
    run = start(api, dataset, max_iters=100_000, lr_decay_iters=100_000, eval_interval=50)
    live: list = []

    def follow() -> None:
        live.append(until_done(api, f"/runs/{run['id']}/metrics/stream"))

    reader = threading.Thread(target=follow)
    reader.start()
    running = wait_for(api, run["id"], lambda r: r["state"] == "running" and r["iter"] >= 15)
    assert running["phase"] == "training"  # past start-up and the first evaluation
    assert api.post(f"/runs/{run['id']}/cancel").json()["cancel_requested"]
    stopped = wait_for(api, run["id"], finished, timeout=30)
    reader.join(timeout=30)
    assert stopped["state"] == "cancelled" and stopped["failure_reason"] is None
    assert stopped["phase"] is None  # told only while running
    ckpt = {c["name"]: c for c in api.get(f"/runs/{run['id']}/checkpoints").json()}["ckpt.pt"]
    assert ckpt["iter"] == stopped["iter"]

    events, end = live[0]
    assert end.data["state"] == "cancelled"
    iters = [e.data["iter"] for e in events]
    assert iters == list(range(iters[0], stopped["iter"] + 1))  # live: no gaps, no repeats
    replayed, _ = until_done(api, f"/runs/{run['id']}/metrics/stream")
    frames = {e.id: e.raw for e in replayed}
    assert [e.raw for e in events] == [frames[e.id] for e in events]  # the same bytes

    target = stopped["iter"] + 20
    resumed = api.post(f"/runs/{run['id']}/resume", json={"max_iters": target})
    assert resumed.status_code == 202 and resumed.json()["state"] == "queued"
    rest, end = until_done(
        api, f"/runs/{run['id']}/metrics/stream", headers={"Last-Event-ID": str(events[-1].id)}
    )
    assert end.data["state"] == "succeeded"
    assert [e.data["iter"] for e in rest] == list(range(stopped["iter"] + 1, target + 1))
    final = api.get(f"/runs/{run['id']}").json()
    assert final["iter"] == target
    history = [p["iter"] for p in api.get(f"/runs/{run['id']}/metrics").json()["points"]]
    assert history == list(range(target + 1))


def test_a_duplicate_message_does_not_start_a_second_run(api, dataset):
    run = start(api, dataset, max_iters=60, lr_decay_iters=60)
    wait_for(api, run["id"], lambda r: r["state"] == "running")
    send(TRAIN, run["id"])  # the same wake-up again, twice
    send(TRAIN, run["id"])
    done = wait_for(api, run["id"], finished)
    assert done["state"] == "succeeded" and done["attempts"] == 1
    time.sleep(1)  # let the duplicates be consumed: they must change nothing
    again = api.get(f"/runs/{run['id']}").json()
    assert again["state"] == "succeeded" and again["attempts"] == 1
    iters = [p["iter"] for p in api.get(f"/runs/{run['id']}/metrics").json()["points"]]
    assert iters == list(range(61))


def test_failures_end_in_a_readable_state(api, dataset):
    run = start(api, dataset, dtype="float16")  # valid config, but no fp16 training on a CPU
    done = wait_for(api, run["id"], finished)
    assert done["state"] == "failed" and done["failure_reason"] == "config", done
    assert "float16" in done["failure_message"].lower()


def test_a_cuda_run_waits_for_a_gpu_worker(api, dataset):
    """No CPU-only worker takes it (app.planning.routing): it waits on its own queue."""
    run = start(api, dataset, device="cuda")
    try:
        assert run["queue"] == "train.cuda.1"
        time.sleep(2)
        assert api.get(f"/runs/{run['id']}").json()["state"] == "queued"
        system = api.get("/system").json()
        assert run["id"] in {r["id"] for r in system["queued_runs"]}
        # messages in the broker: an earlier cancelled CUDA run's stays until a GPU worker
        # takes and drops it, so at least this one
        assert system["queues"]["train.cuda.1"] >= 1
    finally:
        assert api.post(f"/runs/{run['id']}/cancel").json()["state"] == "cancelled"


def test_system_reports_workers_devices_and_queues(api):
    system = api.get("/system").json()
    assert system["broker_problem"] is None
    assert {"train", "prepare", "sample"} <= {q for w in system["workers"] for q in w["queues"]}
    assert all(any(d["kind"] == "cpu" for d in w["devices"]) for w in system["workers"])
    assert set(system["queues"]) == {"prepare", "train", "sample"}
    health = api.get("/health").json()
    assert health == {
        "status": "ok", "database": True, "broker": True, "workers": 2, "reason": None
    }  # fmt: skip


@pytest.mark.slow
def test_a_killed_worker_s_run_is_reaped_and_resumed(api, dataset, stack):
    run = start(api, dataset, max_iters=400, lr_decay_iters=400, eval_interval=10)
    wait_for(api, run["id"], lambda r: r["state"] == "running" and r["iter"] >= 25)
    stack.kill("train")  # the worker, its pool and the training process: SIGKILL
    stack.start_train_worker()
    done = wait_for(api, run["id"], finished, timeout=180)
    assert done["state"] == "succeeded", done
    assert done["attempts"] == 2 and done["iter"] == 400
    iters = [p["iter"] for p in api.get(f"/runs/{run['id']}/metrics").json()["points"]]
    missing = sorted(set(range(401)) - set(iters))
    assert iters == list(range(401)), f"missing {missing[:20]}"  # redone steps replaced
    logs = [
        x["line"]
        for x in api.get(f"/runs/{run['id']}/logs", params={"limit": 5000}).json()["items"]
    ]
    assert any("resuming at iteration" in line for line in logs)


@pytest.mark.slow
def test_a_cancel_sent_while_the_worker_is_dead_is_kept(api, dataset, stack):
    """Issue 20: the train worker dies (SIGKILL, with its training process), then the run is
    cancelled: the reaper ends it cancelled with its checkpoint, and it never trains again."""
    run = start(api, dataset, max_iters=400, lr_decay_iters=400, eval_interval=10)
    wait_for(api, run["id"], lambda r: r["state"] == "running" and r["iter"] >= 15)
    stack.kill("train")
    try:
        asked = api.post(f"/runs/{run['id']}/cancel")
        assert asked.status_code == 202 and asked.json()["cancel_requested"]
        # the prepare worker's reaper finds the stale lease
        done = wait_for(api, run["id"], finished, timeout=60)
    finally:
        stack.start_train_worker()
    assert done["state"] == "cancelled" and done["attempts"] == 1, done
    checkpoints = api.get(f"/runs/{run['id']}/checkpoints").json()
    assert any(c["name"] == "ckpt.pt" for c in checkpoints)
    logs = api.get(f"/runs/{run['id']}/logs", params={"limit": 5000}).json()["items"]
    logs = [x["line"] for x in logs]
    assert "attempt 1 ended: the worker stopped answering; cancelled, as asked" in logs
    # The restarted worker takes the next run; the cancelled one stays as it ended.
    after = start(api, dataset, max_iters=20, lr_decay_iters=20)
    assert wait_for(api, after["id"], finished)["state"] == "succeeded"
    again = api.get(f"/runs/{run['id']}").json()
    assert (again["state"], again["attempts"], again["iter"]) == (
        "cancelled",
        1,
        done["iter"],
    )


@pytest.mark.slow
@pytest.mark.on_backend("sqlite")
def test_a_training_process_killed_by_a_signal_is_resumed(api, dataset):
    """kill -9 of the training process alone (what the OOM killer does, but for memory
    reasons the kernel would count): the run resumes from its checkpoint and succeeds."""
    import os
    import signal

    run = start(api, dataset, max_iters=200, lr_decay_iters=200, eval_interval=10)
    wait_for(api, run["id"], lambda r: r["state"] == "running" and r["iter"] >= 25)
    pid = training_process_pid(run["id"])
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    done = wait_for(api, run["id"], finished, timeout=180)
    assert done["state"] == "succeeded", done
    assert done["attempts"] == 2 and done["iter"] == 200
    iters = [p["iter"] for p in api.get(f"/runs/{run['id']}/metrics").json()["points"]]
    assert iters == list(range(201))  # each logged iteration once
    logs = [
        x["line"]
        for x in api.get(f"/runs/{run['id']}/logs", params={"limit": 5000}).json()["items"]
    ]
    cause = "attempt 1 ended: the training process was killed by signal 9"
    assert any(line.startswith(cause) for line in logs)
    assert any("resuming at iteration" in line for line in logs)


@pytest.mark.on_backend("sqlite")
def test_cancel_reaches_a_long_evaluation(api, dataset):
    """2 × 10,000 batches to score at iteration 0: the cancel ends the run during them."""
    run = start(api, dataset, eval_iters=10_000, batch_size=64)
    # In the evaluation (a loaded machine may take longer than a second to get there).
    wait_for(api, run["id"], lambda r: r["phase"] == "evaluating")
    time.sleep(1.0)  # well into it
    assert api.post(f"/runs/{run['id']}/cancel").status_code == 202
    done = wait_for(api, run["id"], finished, timeout=20)  # uncut, it takes over a minute
    assert done["state"] == "cancelled" and done["iter"] == 0
    points = api.get(f"/runs/{run['id']}/metrics").json()["points"]
    assert points == []  # nothing was evaluated
    logs = [
        x["line"]
        for x in api.get(f"/runs/{run['id']}/logs", params={"limit": 5000}).json()["items"]
    ]
    assert not any("checkpoint saved" in line for line in logs), logs  # none was written
    assert any("stopping at iteration 0; no checkpoint" in line for line in logs), logs
    assert logs[-1] == "this attempt ended: cancelled"  # the cause of the end, in the log


@pytest.mark.on_backend("postgresql")
def test_a_model_that_cannot_be_allocated_fails_as_out_of_memory(stack, api, dataset, tmp_path):
    """The memory guard refuses it; with the guard off (a second API process on the same
    database, broker and workers) the worker's allocation fails: oom, with what to lower."""
    huge = {"n_embd": 65_536, "n_head": 1}  # 68 GB for one MLP weight
    body = {"dataset_id": dataset["id"], "tokenizer": "char", "config": {**TINY, **huge}}
    refused = api.post("/runs", json=body)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "n_embd"
    unguarded = Stack({**stack.env, "STUDIO_MEMORY_GUARD": "false"}, tmp_path)
    try:
        unguarded.start_api()
        with unguarded.client() as other:
            run = start(other, dataset, **huge)
    finally:
        unguarded.stop()
    done = wait_for(api, run["id"], finished)
    assert done["state"] == "failed" and done["failure_reason"] == "oom", done
    assert "can't allocate memory" in done["failure_message"]
    assert "lower batch_size or block_size" in done["failure_message"]
    assert "1 layers × 65536 dims, batch_size 4 × block_size 16" in done["failure_message"]
