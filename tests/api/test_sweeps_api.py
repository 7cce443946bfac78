"""Sweeps through the API (no workers: nothing drives them here): created with a checked
space, read back, cancelled; bad input is a 4xx in the one error shape."""

from __future__ import annotations

import pytest
from studio_stack import assert_error


@pytest.fixture
def dataset(client):
    return client.post("/api/v1/datasets/sample").json()


def body(dataset, **fields):
    return {"dataset_id": dataset["id"], "preset": "tiny-cpu", "trials": 4, "parallel": 2,
            "space": {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True},
                      "n_layer": {"choices": [1, 2]}},
            **fields}  # fmt: skip


def test_a_sweep_is_created_and_read_back(client, dataset):
    response = client.post("/api/v1/sweeps", json=body(dataset, budget="30s"))
    assert response.status_code == 201, response.text
    sweep = response.json()
    assert sweep["state"] == "running" and sweep["trials"] == [] and sweep["best"] is None
    assert (sweep["trials_total"], sweep["parallel"], sweep["budget_s"]) == (4, 2, 30)
    again = client.get(f"/api/v1/sweeps/{sweep['id']}").json()
    assert again == sweep
    assert sweep["id"] in [s["id"] for s in client.get("/api/v1/sweeps").json()]


def test_a_sweep_is_cancelled_once(client, dataset):
    sweep = client.post("/api/v1/sweeps", json=body(dataset)).json()
    cancelled = client.post(f"/api/v1/sweeps/{sweep['id']}/cancel")
    assert cancelled.status_code == 202 and cancelled.json()["state"] == "cancelled"
    assert_error(client.post(f"/api/v1/sweeps/{sweep['id']}/cancel"), 409, field="state")


def test_an_unknown_sweep_is_404(client):
    assert_error(client.get("/api/v1/sweeps/999999"), 404, field="sweep_id")


@pytest.mark.parametrize(
    ("space", "field"),
    [
        ({}, "space"),
        ({"colour": {"choices": ["red"]}}, "space.colour"),
        ({"data_dir": {"choices": ["/etc"]}}, "space.data_dir"),
        ({"learning_rate": {"choices": []}}, "space.learning_rate"),
        ({"learning_rate": {"low": 1e-2, "high": 1e-4}}, "space.learning_rate"),
        ({"learning_rate": {"low": 0, "high": 1e-2, "log": True}}, "space.learning_rate"),
        ({"learning_rate": {"low": "small", "high": 1}}, "space.learning_rate"),
        ({"arch": {"low": 1, "high": 2}}, "space.arch"),
        ({"n_layer": {"choices": ["many"]}}, "space.n_layer"),
        ({"learning_rate": 0.1}, "space.learning_rate"),
    ],
)
def test_a_bad_space_is_refused_naming_the_knob(client, dataset, space, field):
    error = assert_error(client.post("/api/v1/sweeps", json=body(dataset, space=space)), 422)
    assert field in [p["field"] for p in error["errors"]]


def test_bad_sweep_fields_are_refused(client, dataset):
    assert_error(client.post("/api/v1/sweeps", json=body(dataset, budget="0s")), 422,
                 field="budget")  # fmt: skip
    assert_error(client.post("/api/v1/sweeps", json=body(dataset, trials=0)), 422)
    bad_config = body(dataset, config={"n_embd": 65})
    assert_error(client.post("/api/v1/sweeps", json=bad_config), 422, field="n_embd")
