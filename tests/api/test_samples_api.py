"""A run's kept samples and the sample form's checks, over the API (no workers: generating is
tested in test_service_flow.py and the browser): the history lists newest first and pages
back, goes with its run; every problem of a request is named at once in plain words; Generate
before the first checkpoint says when it comes; the metric history as CSV."""

from __future__ import annotations

import csv
import io

from studio_rows import make_run
from studio_stack import assert_error

from app.store.sample_history import SampleRecord, save_sample


def kept(run_id: int, seed: int, text: str = "ab") -> int:
    record = SampleRecord(run_id=run_id, checkpoint="ckpt.pt", iter=40, prompt="R:",
                          completion=text, max_new_tokens=5, temperature=0.8, top_k=200,
                          top_p=None, seed=seed, stop_at_eot=True)  # fmt: skip
    row = save_sample(record)
    assert row is not None
    return row.id


def test_samples_list_newest_first_page_back_and_go_with_their_run(client):
    run, other = make_run(state="succeeded"), make_run(state="succeeded")
    ids = [kept(run, seed) for seed in range(5)]
    kept(other, 99)
    url = f"/api/v1/runs/{run}/samples"
    first = client.get(url, params={"limit": 3}).json()
    assert [s["seed"] for s in first["items"]] == [4, 3, 2]
    assert first["next_before"] == ids[2]
    item = first["items"][0]
    assert item["prompt"] == "R:" and item["completion"] == "ab" and item["iter"] == 40
    assert item["checkpoint"] == "ckpt.pt" and item["top_k"] == 200 and item["top_p"] is None
    rest = client.get(url, params={"limit": 3, "before": first["next_before"]}).json()
    assert [s["seed"] for s in rest["items"]] == [1, 0] and rest["next_before"] is None

    assert_error(client.get(url, params={"limit": 0}), 422, "invalid", "limit")
    assert_error(client.get(url, params={"before": 0}), 422, "invalid", "before")
    assert_error(client.get("/api/v1/runs/987654/samples"), 404, "not_found", "run_id")

    assert client.delete(f"/api/v1/runs/{run}").status_code == 204
    assert_error(client.get(url), 404)
    gone = SampleRecord(run, "ckpt.pt", 1, "", "", 1, 0.0, None, None, 1, False)
    assert save_sample(gone) is None
    from app.store.db import get_db
    from app.store.models import Sample

    with get_db().session() as session:
        assert {s.run_id for s in session.query(Sample)} == {other}


def test_sample_problems_are_named_all_at_once_in_plain_words(client):
    run = make_run(state="succeeded")
    body = {"max_new_tokens": 0, "temperature": -1, "top_k": 1.5, "top_p": 2,
            "seed": -3, "colour": "red"}  # fmt: skip
    error = assert_error(client.post(f"/api/v1/runs/{run}/samples", json=body), 422, "invalid")
    assert [{k: e[k] for k in ("field", "message")} for e in error["errors"]] == [
        {"field": "max_new_tokens", "message": "max_new_tokens must be at least 1"},
        {"field": "temperature", "message": "temperature must be at least 0"},
        {"field": "top_k", "message": "top_k must be a whole number"},
        {"field": "top_p", "message": "top_p must be at most 1"},
        {"field": "seed", "message": "seed must be at least 0"},
        {"field": "colour", "message": "unknown field 'colour'"},
    ]
    assert error["field"] == "max_new_tokens"  # the first, as before
    assert error["message"].startswith("max_new_tokens must be at least 1; temperature")
    raw = client.post(
        f"/api/v1/runs/{run}/samples", content="{", headers={"content-type": "application/json"}
    )
    assert assert_error(raw, 422)["errors"][0]["message"] == "the body is not valid JSON"


def test_generate_before_the_first_checkpoint_says_when_it_comes(client):
    run = make_run(state="running", config={"eval_interval": 250, "max_iters": 1000})
    error = assert_error(client.post(f"/api/v1/runs/{run}/samples", json={}), 404)
    assert error["field"] == "checkpoint"
    assert error["message"] == (
        f"run {run} has no ckpt.pt yet; the first is written at iteration 250"
    )


def test_metric_history_as_csv(client):
    from app.store.db import get_db
    from app.store.history import Batch, write_batch
    from app.store.models import utcnow

    run = make_run(state="running")
    now = utcnow()
    metrics = [{"iter": 0, "train_loss": None, "val_loss": 4.5, "eval_train_loss": 4.4,
                "lr": 1e-3, "tokens_per_sec": None, "mfu": None, "memory_bytes": None,
                "elapsed_s": None, "val_bpc": None, "logged_at": now}]  # fmt: skip
    metrics += [
        {**metrics[0], "iter": i, "train_loss": 4.0 - i / 100, "val_loss": None,
         "eval_train_loss": None, "tokens_per_sec": 1234.5, "elapsed_s": i / 10}
        for i in (5, 10)
    ]  # fmt: skip
    with get_db().transaction() as session:
        write_batch(session, run_id=run, batch=Batch(metrics=metrics))
    response = client.get(f"/api/v1/runs/{run}/metrics", params={"format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert f'filename="run{run}-metrics.csv"' in response.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(response.text)))
    as_json = client.get(f"/api/v1/runs/{run}/metrics").json()["points"]
    assert [int(r["iter"]) for r in table] == [0, 5, 10]
    assert list(table[0]) == list(as_json[0])  # the same fields, in the same order
    assert table[0]["train_loss"] == "" and float(table[0]["val_loss"]) == 4.5
    assert float(table[2]["train_loss"]) == as_json[2]["train_loss"]
    assert table[1]["logged_at"] == as_json[1]["logged_at"]
    assert_error(client.get(f"/api/v1/runs/{run}/metrics", params={"format": "xml"}), 422,
                 "invalid", "format")  # fmt: skip
    assert_error(client.get("/api/v1/runs/987654/metrics", params={"format": "csv"}), 404)
