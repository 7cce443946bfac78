"""A budget run through the service (real workers): it ends within a margin of its budget,
completed before max_iters, its last rate warmed down to min_lr."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

pytestmark = pytest.mark.on_backend("sqlite")  # a feature: one backend serves it

BUDGET_S = 20
# The loop's deadline is the budget less the start's reserve; what can overrun it is the
# training process's start (importing torch, on a loaded box) and the last checkpoint.
MARGIN_S = BUDGET_S


def wait_for_end(api, run_id: int, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = api.get(f"/runs/{run_id}").json()
        if run["state"] in ("succeeded", "failed", "cancelled"):
            return run
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} did not end: {run}")


def seconds(run: dict) -> float:
    began, ended = (datetime.fromisoformat(run[k]) for k in ("started_at", "finished_at"))
    return (ended - began).total_seconds()


def test_a_budget_run_ends_on_time_with_its_rate_decayed(api):
    dataset = api.post("/datasets/sample").json()
    body = {"dataset_id": dataset["id"], "tokenizer": "char", "budget": f"{BUDGET_S}s",
            "config": {"device": "cpu"}}  # fmt: skip
    plan = api.post("/runs", json=body, params={"dry_run": True}).json()["budget"]
    response = api.post("/runs", json=body)
    assert response.status_code == 201, response.text
    run = wait_for_end(api, response.json()["id"])
    assert run["state"] == "succeeded", run
    cfg = run["config"]
    assert 0 < run["iter"] < cfg["max_iters"]  # the deadline ended it
    assert seconds(run) <= BUDGET_S + MARGIN_S, (seconds(run), plan)
    points = api.get(f"/runs/{run['id']}/metrics").json()["points"]
    rates = [p["lr"] for p in points if p["lr"] is not None]
    assert max(rates) == cfg["learning_rate"]
    assert points[-1]["iter"] == run["iter"] and points[-1]["val_loss"] is not None
    assert rates[-1] == cfg["min_lr"]  # the evaluation at the deadline: fully warmed down
