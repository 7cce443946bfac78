"""Hostile numbers get a 4xx in the one error shape, naming the field, and the dry run says
exactly what the real request would: never a 500, never an overflow inside the database."""

from __future__ import annotations

import pytest
from studio_stack import assert_error

HUGE = 2**70


@pytest.fixture
def dataset(client):
    return client.post("/api/v1/datasets/sample").json()


def post_run(client, body, dry_run=False):
    params = {"dry_run": "true"} if dry_run else None
    return client.post("/api/v1/runs", json=body, params=params)


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"max_iters": 1e20}, "max_iters"),
        ({"eval_iters": 20_000}, "eval_iters"),
        ({"n_layer": 10_000}, "n_layer"),
        ({"batch_size": HUGE}, "batch_size"),
        ({"seed": -1}, "seed"),
        ({"learning_rate": "nan"}, "learning_rate"),
        ({"weight_decay": "inf"}, "weight_decay"),
        ({"grad_clip": "-Infinity"}, "grad_clip"),
        ({"min_lr": "1e400"}, "min_lr"),
    ],
)
def test_config_numbers_are_bounded_the_same_in_a_dry_run(client, dataset, config, field):
    body = {"dataset_id": dataset["id"], "config": config}
    real, dry = post_run(client, body), post_run(client, body, dry_run=True)
    assert_error(real, 422, field=field)
    assert dry.status_code == real.status_code and dry.json() == real.json()


def test_non_finite_json_numbers_are_refused(client, dataset):
    raw = f'{{"dataset_id": {dataset["id"]}, "config": {{"learning_rate": NaN}}}}'
    headers = {"content-type": "application/json"}
    response = client.post("/api/v1/runs", content=raw, headers=headers)
    assert_error(response, 422, field="learning_rate")
    raw = f'{{"dataset_id": {dataset["id"]}, "config": {{"beta1": 1e400}}}}'
    response = client.post("/api/v1/runs", content=raw, headers=headers)
    assert_error(response, 422, field="beta1")
    sample = client.post(
        "/api/v1/runs/1/samples", content='{"temperature": Infinity}', headers=headers
    )
    assert_error(sample, 422, field="temperature")


def test_ids_beyond_64_bits_are_a_422(client, dataset):
    assert_error(post_run(client, {"dataset_id": HUGE}), 422, field="dataset_id")
    assert_error(client.get(f"/api/v1/runs/{HUGE}"), 422, field="run_id")
    assert_error(client.get(f"/api/v1/datasets/{HUGE}"), 422, field="dataset_id")
    assert_error(client.get(f"/api/v1/runs/{HUGE}/metrics"), 422, field="run_id")
    assert_error(client.post(f"/api/v1/runs/{HUGE}/cancel"), 422, field="run_id")
    clone = client.post("/api/v1/runs/1/clone", json={"dataset_id": HUGE})
    assert_error(clone, 422, field="dataset_id")


def test_query_numbers_are_bounded(client):
    assert_error(
        client.get("/api/v1/datasets", params={"offset": 104 * 10**18}), 422, field="offset"
    )
    assert_error(
        client.get("/api/v1/runs", params={"dataset_id": 33 * 10**18}), 422, field="dataset_id"
    )
    assert_error(client.get("/api/v1/runs", params={"offset": "1.04e20"}), 422, field="offset")
    logs = client.get("/api/v1/runs/1/logs", params={"after": HUGE})
    assert_error(logs, 422, field="after")


def test_resume_and_sample_numbers_are_bounded(client):
    resume = client.post("/api/v1/runs/1/resume", json={"max_iters": 10**30})
    assert_error(resume, 422, field="max_iters")
    for options, field in (({"seed": 10**30}, "seed"), ({"top_p": 5e-324}, "top_p")):
        response = client.post("/api/v1/runs/1/samples", json=options)
        assert_error(response, 422, field=field)


def test_a_run_without_a_preset_is_small(client, dataset):
    run = post_run(client, {"dataset_id": dataset["id"]}, dry_run=True).json()
    from worker.engine.config.presets import preset_config

    tiny = preset_config("tiny-cpu").to_dict()
    assert {k: run["config"][k] for k in ("n_layer", "n_embd", "max_iters")} == {
        k: tiny[k] for k in ("n_layer", "n_embd", "max_iters")
    }
    assert run["preset"] is None
