"""The checks before a run starts, through the API: every problem at once (each naming its
field, in the one error shape), schedule warnings to accept, and the memory guard against the
devices the train workers report (a worker's registry entry, written as a worker writes it)."""

from __future__ import annotations

import re

import pytest
from studio_stack import assert_error

TINY = {"n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 16, "batch_size": 4,
        "max_iters": 20, "lr_decay_iters": 20, "warmup_iters": 2, "eval_interval": 10,
        "eval_iters": 2, "log_interval": 5, "device": "cpu", "compile": False,
        "gradient_accumulation_steps": 1}  # fmt: skip
GiB = 2**30


@pytest.fixture
def dataset(client):
    return client.post("/api/v1/datasets/sample").json()


def post(client, dataset, config, dry_run=False, **body):
    payload = {"dataset_id": dataset["id"], "tokenizer": "char", "config": config, **body}
    return client.post("/api/v1/runs", json=payload, params={"dry_run": dry_run})


def test_every_problem_is_listed_at_once_beside_its_field(client, dataset):
    bad = {**TINY, "n_embd": 65, "block_size": 2_000_000, "dropout": 1.5, "n_layer": "many",
           "colour": "red"}  # fmt: skip
    for dry_run in (True, False):
        error = assert_error(post(client, dataset, bad, dry_run), 422)
        fields = [p["field"] for p in error["errors"]]
        assert fields == ["n_layer", "colour"]  # types first: the checks need numbers
    shaped = {**TINY, "n_embd": 65, "block_size": 2_000_000, "dropout": 1.5}
    error = assert_error(post(client, dataset, shaped, True), 422, field="n_embd")
    assert [p["field"] for p in error["errors"]] == ["n_embd", "dropout", "block_size"]


def test_the_block_size_suggestion_fits_both_splits(client, dataset):
    error = assert_error(post(client, dataset, {**TINY, "block_size": 2_000_000}, True), 422)
    fits = int(re.search(r"fits both splits is (\d+)", error["message"]).group(1))
    assert post(client, dataset, {**TINY, "block_size": fits}, True).status_code == 200
    error = assert_error(post(client, dataset, {**TINY, "block_size": fits + 1}, True), 422)
    assert error["field"] == "block_size"


def test_body_errors_are_all_listed_too(client, dataset):
    response = client.post(
        "/api/v1/runs", json={"dataset_id": dataset["id"], "val_fraction": 2, "tokenizer": "x"}
    )
    error = assert_error(response, 422)
    assert {p["field"] for p in error["errors"]} == {"val_fraction", "tokenizer"}


def without_no_worker(warnings: list[dict]) -> list[dict]:
    return [w for w in warnings if w["code"] != "no_worker"]


def test_schedule_warnings_start_the_run_and_strict_refuses_it(client, dataset):
    odd = {**TINY, "max_iters": 50, "warmup_iters": 100, "lr_decay_iters": 2000,
           "eval_interval": 250, "min_lr": 1.0, "learning_rate": 0.1}  # fmt: skip
    plan = post(client, dataset, odd, dry_run=True).json()
    assert [w["field"] for w in plan["warnings"]] == [
        "warmup_iters", "lr_decay_iters", "eval_interval", "min_lr"
    ]  # fmt: skip
    assert all(w["code"] == "schedule" for w in plan["warnings"])
    before = client.get("/api/v1/runs").json()["total"]
    error = assert_error(post(client, dataset, odd, strict=True), 422, code="unaccepted_warnings")
    assert "strict" in error["message"]
    assert [p["field"] for p in error["errors"][1:]] == [w["field"] for w in plan["warnings"]]
    assert client.get("/api/v1/runs").json()["total"] == before  # nothing stored
    started = post(client, dataset, odd)
    assert started.status_code == 201, started.text
    # and no_worker: this client has no train worker (tests/api/test_waiting_api.py)
    assert without_no_worker(started.json()["warnings"]) == plan["warnings"]
    shown = client.get(f"/api/v1/runs/{started.json()['id']}").json()
    assert shown["warnings"] == plan["warnings"]  # all schedule ones: kept with the config
    assert post(client, dataset, TINY, dry_run=True).json()["warnings"] == []


def test_a_script_that_sets_only_max_iters_gets_a_schedule_of_its_length(client, dataset):
    """issue 19: {"max_iters": 300} was refused for the preset's lr_decay_iters (2,000), and
    {"max_iters": 60, "lr_decay_iters": 60} for its warmup_iters (100)."""
    short = ["eval_interval"]  # the preset's 250 is longer than a 60-step run: said, allowed
    for config, decay, warmup, warned in (
        ({"max_iters": 300}, 300, 30, []),
        ({"max_iters": 60, "lr_decay_iters": 60}, 60, 6, short),
        ({"max_iters": 60, "warmup_iters": 0}, 60, 0, short),
        ({}, 2000, 100, []),  # the preset's own
    ):
        created = post(client, dataset, {"device": "cpu", **config})
        assert created.status_code == 201, created.text
        run = created.json()
        assert (run["config"]["lr_decay_iters"], run["config"]["warmup_iters"]) == (decay, warmup)
        assert [w["field"] for w in without_no_worker(run["warnings"])] == warned


def test_without_a_train_worker_there_is_no_device_to_guard(client, dataset):
    plan = post(client, dataset, TINY, dry_run=True).json()
    assert plan["memory"]["device"] is None
    assert plan["memory"]["estimate_bytes"] == sum(
        plan["memory"][k] for k in ("state_bytes", "activation_bytes", "runtime_bytes")
    )


def test_the_dry_run_gives_the_forms_figures(client, dataset):
    """The run form shows these and computes none of them (tests/browser/test_dashboard.py):
    the parameter counts are the model's own, for either arch."""
    from worker.engine.config.presets import preset_config
    from worker.engine.model.build import build_model

    for arch in ("gpt2", "modern"):
        changes = {**TINY, "arch": arch, "bias": False}
        plan = post(client, dataset, changes, dry_run=True).json()
        memory = plan["memory"]
        cfg = preset_config("tiny-cpu", changes)
        model = build_model(cfg.model_args(memory["vocab_size"]))
        assert memory["params"] == model.num_params(non_embedding=False), arch
        assert memory["non_embedding_params"] == model.num_params(), arch
        assert (
            plan["tokens_per_iter"]
            == cfg.batch_size * cfg.block_size * cfg.gradient_accumulation_steps
        )


def test_the_memory_guard_refuses_and_its_suggestion_is_accepted(client, dataset, train_worker):
    big = {**TINY, "n_embd": 256, "n_head": 4, "block_size": 64, "batch_size": 4096}
    for dry_run in (True, False):
        error = assert_error(post(client, dataset, big, dry_run), 422, field="batch_size")
        assert "test CPU (cpu) has 2.0 GiB free" in error["message"]
    batch = int(re.search(r"batch_size (\d+) fits", error["message"]).group(1))
    assert 1 <= batch < 4096
    # 4096 is no multiple of the batch that fits: no accumulation keeps the tokens per iteration
    assert 4096 % batch != 0, "the estimate moved: pick a batch_size whose fit does not divide it"
    assert error["message"].endswith(f"2.0 GiB free; batch_size {batch} fits")
    # With as many steps as that batch, 4096 of them keep them (the estimate is per step).
    kept = {**big, "gradient_accumulation_steps": batch}
    error = assert_error(post(client, dataset, kept, dry_run=True), 422, field="batch_size")
    assert error["message"].endswith(
        f"; batch_size {batch} fits (and gradient_accumulation_steps 4096 keeps the tokens per "
        "iteration)"
    )
    plan = post(client, dataset, {**big, "batch_size": batch}, dry_run=True).json()
    assert plan["warnings"] == []  # the suggestion fits without a warning
    assert plan["memory"]["device"] == {"kind": "cpu", "name": "test CPU", "free_bytes": 2 * GiB}
    assert plan["memory"]["estimate_bytes"] <= 0.8 * 2 * GiB
    close = post(client, dataset, {**big, "batch_size": int(batch * 1.15)}, dry_run=True)
    assert [w["code"] for w in close.json()["warnings"]] == ["memory"]


def test_a_model_too_big_even_for_one_sequence_names_the_depth(client, dataset, train_worker):
    huge = {**TINY, "n_layer": 48, "n_embd": 2048, "n_head": 16, "block_size": 64}
    error = assert_error(post(client, dataset, huge, True), 422, field="n_layer")
    layers = int(re.search(r"n_layer (\d+) fits", error["message"]).group(1))
    fits = post(client, dataset, {**huge, "n_layer": layers, "batch_size": 1}, dry_run=True)
    assert fits.status_code == 200, fits.text


def test_a_clone_keeps_the_sources_chosen_schedule_and_lets_the_rest_follow(client, dataset):
    followed = post(client, dataset, {"device": "cpu", "max_iters": 300}).json()
    chosen = post(client, dataset, {"device": "cpu", "max_iters": 300, "lr_decay_iters": 250,
                                    "warmup_iters": 100}).json()  # fmt: skip
    # lr_decay_iters follows the clone's max_iters unless the source chose it; warmup is the
    # source's, capped to a tenth of the clone's schedule (a clone never lengthens it)
    for source, max_iters, decay, warmup in (
        (followed, 500, 500, 30),
        (followed, 100, 100, 10),
        (chosen, 500, 250, 100),
    ):
        clone = client.post(
            f"/api/v1/runs/{source['id']}/clone", json={"config": {"max_iters": max_iters}}
        )
        assert clone.status_code == 201, clone.text
        config = clone.json()["config"]
        assert (config["lr_decay_iters"], config["warmup_iters"]) == (decay, warmup)
