"""Sweeps through the service (real workers, the reaper's sweeper pass): trials queued one at a
time, a trial behind the best completed one pruned with its checkpoint kept, the best reported,
through a restart of the workers; and a cancel that stops the trials."""

from __future__ import annotations

import time

import pytest
from studio_stack import Stack

pytestmark = pytest.mark.on_backend("postgresql")  # a feature: one backend serves it

TINY = {"n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 32, "batch_size": 8,
        "max_iters": 300, "lr_decay_iters": 300, "warmup_iters": 0, "eval_interval": 10,
        "eval_iters": 2, "log_interval": 10, "device": "cpu", "compile": False,
        "learning_rate": 3e-3, "min_lr": 3e-4, "gradient_accumulation_steps": 1}  # fmt: skip
SPACE = {"learning_rate": {"low": 1e-6, "high": 3e-3, "log": True}}


def wait_for(api, sweep_id: int, until, timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sweep = api.get(f"/sweeps/{sweep_id}").json()
        if until(sweep):
            return sweep
        time.sleep(0.5)
    raise AssertionError(f"sweep {sweep_id} stuck: {sweep}")


def create(api, dataset, **fields) -> dict:
    body = {"dataset_id": dataset["id"], "tokenizer": "char", "config": TINY, "space": SPACE,
            **fields}  # fmt: skip
    response = api.post("/sweeps", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_sweep_prunes_a_trial_and_reports_the_best_through_a_restart(api, stack: Stack):
    dataset = api.post("/datasets/sample").json()
    sweep = create(api, dataset, trials=3, parallel=1)
    first = wait_for(api, sweep["id"], lambda s: len(s["trials"]) == 1)
    assert first["trials"][0]["params"] == {"learning_rate": 3e-3}  # the base config first
    # the service restarts: nothing about the sweep lives in a worker's memory
    for name in ("train", "prepare"):
        stack.kill(name)
    stack.start_train_worker()
    stack.start_prepare_worker()
    done = wait_for(api, sweep["id"], lambda s: s["state"] != "running")
    assert done["state"] == "succeeded", done
    trials = done["trials"]
    assert [t["number"] for t in trials] == [0, 1, 2]
    assert len({t["run_id"] for t in trials}) == 3
    pruned = [t for t in trials if t["state"] == "pruned"]
    assert pruned, trials
    for trial in pruned:
        run = api.get(f"/runs/{trial['run_id']}").json()
        assert run["state"] == "pruned" and run["iter"] < TINY["max_iters"]
        checkpoints = api.get(f"/runs/{trial['run_id']}/checkpoints").json()
        assert checkpoints, "a pruned trial keeps its checkpoint"
    complete = [t for t in trials if t["state"] == "complete"]
    assert done["best"] == min(complete, key=lambda t: t["val_bpc"])
    # the knob's effect: every scored trial's point, the pruned ones marked as not counted
    (effect,) = done["effects"]
    assert effect["knob"] == "learning_rate" and effect["kind"] == "number"
    scored = sorted((t["params"]["learning_rate"], t["val_bpc"], t["state"] == "complete")
                    for t in trials if t["val_bpc"] is not None)  # fmt: skip
    assert [(p["value"], p["val_bpc"], p["complete"]) for p in effect["points"]] == scored
    assert effect["correlation"] is None  # fewer than three complete trials


def test_a_cancelled_sweep_stops_its_trials_and_starts_no_more(api):
    dataset = api.post("/datasets/sample").json()
    sweep = create(api, dataset, trials=6, parallel=2)
    wait_for(api, sweep["id"], lambda s: len(s["trials"]) == 2)
    cancelled = api.post(f"/sweeps/{sweep['id']}/cancel")
    assert cancelled.status_code == 202 and cancelled.json()["state"] == "cancelled"
    for trial in cancelled.json()["trials"]:
        run = api.get(f"/runs/{trial['run_id']}").json()
        assert run["state"] == "cancelled" or run["cancel_requested"]
    time.sleep(3)  # several reaper passes: a cancelled sweep is driven no further
    assert len(api.get(f"/sweeps/{sweep['id']}").json()["trials"]) == 2
