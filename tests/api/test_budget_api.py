"""A budget run through the API: the dry run shows the plan and why, the knobs set are kept,
and a bad budget is a 4xx in the one error shape, the same in a dry run as in a start."""

from __future__ import annotations

import pytest
from studio_stack import assert_error

from app.store.broker import forget_worker, report_worker
from app.store.settings import get_settings

GiB = 2**30


@pytest.fixture
def dataset(client):
    return client.post("/api/v1/datasets/sample").json()


def post(client, dataset, budget, config=None, dry_run=False):
    payload = {"dataset_id": dataset["id"], "tokenizer": "char", "config": config or {},
               "budget": budget}  # fmt: skip
    return client.post("/api/v1/runs", json=payload, params={"dry_run": dry_run})


def test_the_dry_run_shows_what_the_budget_buys_and_why(client, dataset):
    response = post(client, dataset, "5m", dry_run=True)
    assert response.status_code == 200, response.text
    plan = response.json()
    budget, config = plan["budget"], plan["config"]
    assert budget["budget_s"] == 300
    assert budget["params"] > 0 and budget["expected_iters"] > 0
    assert budget["tokens"] == budget["expected_iters"] * plan["tokens_per_iter"]
    assert budget["epochs"] == pytest.approx(
        budget["tokens"] / plan["data"]["train_tokens"], abs=0.01
    )
    assert budget["reasons"][0].startswith("300 s budget")
    assert config["lr_schedule"] == "wsd" and 0 < config["time_budget_s"] < 300
    assert config["tags"] == {"budget_s": "300"}
    assert plan["name"].endswith("300 s budget")
    assert plan["warnings"] == []  # a plan needs nothing accepted


def test_the_knobs_set_are_kept(client, dataset):
    config = {"n_layer": 3, "learning_rate": 0.01, "device": "cpu"}
    plan = post(client, dataset, 120, config, dry_run=True).json()
    assert {k: plan["config"][k] for k in config} == config
    assert plan["budget"]["budget_s"] == 120


def test_a_budget_run_starts_queued_with_its_plan(client, dataset):
    response = post(client, dataset, "90s")
    assert response.status_code == 201, response.text
    run = response.json()
    assert run["config"]["tags"]["budget_s"] == "90"
    assert run["config"]["time_budget_s"] > 0
    client.post(f"/api/v1/runs/{run['id']}/cancel")


def test_the_device_the_workers_report_sizes_the_plan(client, dataset):
    settings = get_settings()
    gpu = {"kind": "cuda", "index": 0, "name": "test GPU", "memory_total": 80 * GiB,
           "memory_free": 80 * GiB}  # fmt: skip
    record = {"name": "train@gpu", "queues": ["train"], "pid": 1, "devices": [gpu],
              "started_at": 0, "seen_at": 0}  # fmt: skip
    cpu_plan = post(client, dataset, "20m", {"device": "cpu"}, dry_run=True).json()
    report_worker(settings, "train@gpu", record, 60)
    try:
        gpu_plan = post(client, dataset, "20m", {"device": "cuda"}, dry_run=True).json()
    finally:
        forget_worker(settings, "train@gpu")
    assert gpu_plan["budget"]["speed"] == "cached figure for a GPU"
    assert gpu_plan["budget"]["expected_iters"] > cpu_plan["budget"]["expected_iters"]


def test_the_speed_a_train_worker_measured_plans_the_run(client, dataset):
    """Of the train workers that could take the run, the slowest figure sizes it (any of
    them may get it); the plan says whose figure it used."""
    settings = get_settings()
    fast, slow = ({"flops_per_s": f, "overhead_s": 0.01} for f in (4e11, 1e10))
    gpus = {name: {"kind": "cuda", "index": 0, "name": name, "memory_total": 80 * GiB,
                   "memory_free": 80 * GiB, "speed": speed}
            for name, speed in (("fast GPU", fast), ("slow GPU", slow))}  # fmt: skip
    for name, gpu in gpus.items():
        record = {"name": name, "queues": ["train"], "pid": 1, "devices": [gpu],
                  "started_at": 0, "seen_at": 0}  # fmt: skip
        report_worker(settings, name, record, 60)
    try:
        both = post(client, dataset, "20m", {"device": "cuda"}, dry_run=True).json()
        forget_worker(settings, "slow GPU")
        fast_only = post(client, dataset, "20m", {"device": "cuda"}, dry_run=True).json()
    finally:
        for name in gpus:
            forget_worker(settings, name)
    assert both["budget"]["speed"] == "measured by a train worker on slow GPU"
    assert fast_only["budget"]["speed"] == "measured by a train worker on fast GPU"
    assert any("10.0 GFLOP/s" in reason for reason in both["budget"]["reasons"])
    assert fast_only["budget"]["expected_iters"] > both["budget"]["expected_iters"]


@pytest.mark.parametrize("budget", [0, "0s", "3650d", "10 years", -5, 1e12, "5s"])
def test_a_bad_budget_is_refused_naming_it(client, dataset, budget):
    for dry_run in (True, False):
        error = assert_error(post(client, dataset, budget, dry_run=dry_run), 422, field="budget")
        assert "budget must" in error["message"]


def test_a_budget_of_the_wrong_type_is_refused(client, dataset):
    assert_error(post(client, dataset, ["5m"]), 422, field="budget")
