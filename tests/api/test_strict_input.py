"""Input is taken as sent or refused, never reinterpreted: JSON bodies are strict (no "1"
or 1.0 for an id, no "2" for n_layer, no "yes" for a boolean), names hold no NUL, a
val_fraction must leave both splits a character, and a body that is not UTF-8 is a 400 in
the one error shape. The dry run gives the same verdicts as the create."""

import pytest
from studio_stack import assert_error

TINY = {"n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 16, "batch_size": 4,
        "max_iters": 20, "lr_decay_iters": 20, "warmup_iters": 2, "eval_interval": 10,
        "eval_iters": 2, "log_interval": 5, "device": "cpu", "compile": False}  # fmt: skip


@pytest.fixture
def dataset(client):
    return client.post("/api/v1/datasets/sample").json()


def body(dataset, **changes):
    return {"dataset_id": dataset["id"], "tokenizer": "char", "config": dict(TINY), **changes}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"dataset_id": "1"}, "dataset_id"),
        ({"dataset_id": 1.0}, "dataset_id"),
        ({"strict": "yes"}, "strict"),
        ({"val_fraction": "0.1"}, "val_fraction"),
        ({"gpus": "1"}, "gpus"),
        ({"config": {**TINY, "n_layer": "2"}}, "n_layer"),
        ({"config": {**TINY, "n_layer": 2.0}}, "n_layer"),
        ({"config": {**TINY, "learning_rate": "1e-3"}}, "learning_rate"),
        ({"config": {**TINY, "decay_lr": "true"}}, "decay_lr"),
        ({"name": "a\x00b"}, "name"),
        ({"val_fraction": 1e-300}, "val_fraction"),
        ({"val_fraction": 1 - 1e-12}, "val_fraction"),
    ],
)
@pytest.mark.parametrize("dry_run", [True, False])
def test_a_run_of_the_wrong_types_is_refused_naming_the_field(
    client, dataset, changes, field, dry_run
):
    params = {"dry_run": "true"} if dry_run else None
    response = client.post("/api/v1/runs", json=body(dataset, **changes), params=params)
    assert_error(response, 422, field=field)
    assert client.get("/api/v1/runs").json()["total"] == 0


def test_the_same_values_typed_are_taken(client, dataset):
    good = body(dataset, dataset_id=dataset["id"], strict=False, val_fraction=0.1)
    good["config"] = {**TINY, "n_layer": 2, "learning_rate": 1e-3, "dropout": 0}  # int as float
    response = client.post("/api/v1/runs", json=good, params={"dry_run": "true"})
    assert response.status_code == 200, response.text
    assert response.json()["config"]["dropout"] == 0.0


def test_other_bodies_are_strict_too(client, dataset):
    sample = {"temperature": "0.5"}
    assert_error(client.post("/api/v1/runs/1/samples", json=sample), 422, field="temperature")
    prepare = {"tokenizer": "char", "val_fraction": 1e-300}
    response = client.post(f"/api/v1/datasets/{dataset['id']}/prepare", json=prepare)
    assert_error(response, 422, field="val_fraction")
    imported = {"path": "x.txt", "name": "a\x00"}
    assert_error(client.post("/api/v1/datasets/import", json=imported), 422, field="name")
    upload = client.post("/api/v1/datasets?name=a%00b", content=b"hello\n")
    assert_error(upload, 422, field="name")


def test_a_body_that_is_not_utf8_is_a_400_in_the_error_shape(client):
    headers = {"Content-Type": "application/json"}
    not_utf8 = b'{"filename": "\xff"}'
    assert_error(client.post("/api/v1/configs/parse", content=not_utf8, headers=headers), 400)
