"""A run created while no worker is live (local_env's broker has none): 201 all the same,
warned, and once queued it says what it waits for; a dry run says the same."""

from __future__ import annotations

from studio_rows import make_run

TINY = {"n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 16, "batch_size": 4,
        "max_iters": 10, "lr_decay_iters": 10, "warmup_iters": 1, "eval_interval": 5,
        "eval_iters": 2, "log_interval": 5, "device": "auto", "compile": False,
        "gradient_accumulation_steps": 4}  # fmt: skip


def test_no_live_worker_is_a_warning_not_a_refusal(client) -> None:
    dataset = client.post("/api/v1/datasets/sample").json()
    body = {"dataset_id": dataset["id"], "config": TINY, "gpus": 4}
    waits = "a worker with 4 GPUs; no worker is live"
    plan = client.post("/api/v1/runs", json=body, params={"dry_run": "true"})
    assert plan.status_code == 200, plan.text
    assert plan.json()["waiting_for"] == waits
    created = client.post("/api/v1/runs", json=body)
    assert created.status_code == 201, created.text
    run = created.json()
    assert run["warnings"] == [
        {"code": "no_worker", "field": "gpus",
         "message": f"no live worker can take this run now: it waits for {waits}"}
    ]  # fmt: skip
    assert run["state"] == "preparing" and run["waiting_for"] is None  # not queued yet
    queued = make_run(queue="train.cuda.4")  # as the run will be once its data is prepared
    shown = client.get(f"/api/v1/runs/{queued}").json()
    assert (shown["waiting_for"], shown["queue_position"]) == (waits, 1)
    listed = client.get("/api/v1/runs", params={"state": "queued"}).json()["items"]
    assert [r["waiting_for"] for r in listed if r["id"] == queued] == [waits]
    cpu = client.post(
        "/api/v1/runs", json={**body, "gpus": None, "config": {**TINY, "device": "cpu"}}
    )
    assert cpu.json()["warnings"][0]["message"].endswith(
        "a worker that consumes train; no worker is live"
    )
    assert cpu.json()["warnings"][0]["field"] == "queue"
    client.post(f"/api/v1/runs/{queued}/cancel")
