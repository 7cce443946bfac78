"""Evaluations through the API (app/api/routes/evaluations.py, app/store/evaluations.py) and the
evaluation job (worker/jobs/tasks/evaluate.py) run in this process: the request queues a job
on the prepare queue, the job scores the checkpoint on a dataset's text or pasted text and
the figures are the engine's. Plus every refusal in the one error shape, and the reaper."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from engine_helpers import prepared, shakespeare, tiny_config
from studio_rows import ago, make_run
from studio_stack import assert_error

from app.planning.ingest import INPUT_NAME
from app.store.db import get_db
from app.store.evaluations import EVALUATIONS
from app.store.lease import reap as reap_lease
from app.store.models import Dataset, Evaluation
from app.store.settings import get_settings
from worker.engine.sampling.sample import load_sampler
from worker.engine.sampling.score import score_text

pytestmark = pytest.mark.usefixtures("local_env")
TEXT = shakespeare(4000)[-600:]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder of a tiny character-level model with ckpt.pt and best.pt."""
    from worker.engine.training.loop import train

    tmp = tmp_path_factory.mktemp("trained")
    data = prepared(tmp, shakespeare(4000))
    out = tmp / "run"
    cfg = tiny_config(data, out, n_layer=1, n_embd=16, block_size=8, batch_size=2, max_iters=2,
                      eval_interval=2, eval_iters=1, lr_decay_iters=2, warmup_iters=1)  # fmt: skip
    train(cfg)
    return out


def finished_run(trained: Path | None, *files: str) -> int:
    run_id = make_run(state="succeeded", config={"eval_interval": 250})
    folder = get_settings().run_dir(run_id)
    folder.mkdir(parents=True)
    for name in files:
        shutil.copy(trained / name, folder / name)
    return run_id


def make_dataset(text: str | None, state: str = "ready") -> int:
    """A dataset row, with its corpus file when `text` is given."""
    with get_db().transaction() as session:
        dataset = Dataset(name="held-out.txt", state=state, bytes=len(text or ""), attempts=0)
        session.add(dataset)
        session.flush()
        dataset_id = dataset.id
    if text is not None:
        folder = get_settings().dataset_dir(dataset_id)
        folder.mkdir(parents=True)
        (folder / INPUT_NAME).write_text(text, encoding="utf-8")
    return dataset_id


def evaluate_now(evaluation_id: int) -> str:
    """What the prepare worker does with the message, here."""
    from worker.jobs.tasks.evaluate import evaluate_run

    return evaluate_run(evaluation_id)


def test_a_dataset_evaluation_is_queued_then_scored(client, trained):
    from app.store.broker import pending_first_args

    run_id = finished_run(trained, "ckpt.pt", "best.pt")
    dataset_id = make_dataset(TEXT)
    url = f"/api/v1/runs/{run_id}/evaluations"
    response = client.post(url, json={"dataset_id": dataset_id})
    assert response.status_code == 202, response.text
    queued = response.json()
    assert queued["state"] == "queued" and queued["checkpoint"] == "latest"
    assert queued["dataset_id"] == dataset_id and queued["dataset_name"] == "held-out.txt"
    assert queued["loss"] is None and queued["progress"] == 0.0
    held = pending_first_args(get_settings(), queue="prepare", task_name="studio.evaluate")
    assert queued["id"] in held  # a wake-up for the prepare workers

    assert evaluate_now(queued["id"]) == "done"
    assert evaluate_now(queued["id"]) == "skipped"  # a duplicate message changes nothing
    ready = client.get(f"{url}/{queued['id']}").json()
    want = score_text(load_sampler(trained / "ckpt.pt", device="cpu"), TEXT)
    assert ready["state"] == "ready" and ready["progress"] == 1.0 and ready["iter"] == 2
    assert ready["loss"] == pytest.approx(want.loss, rel=1e-6)
    assert ready["perplexity"] == pytest.approx(want.perplexity, rel=1e-6)
    assert ready["bits_per_char"] == pytest.approx(want.bits_per_char, rel=1e-6)
    assert ready["tokens"] == ready["characters"] == len(TEXT)  # char model: one each

    # pasted text, from the best checkpoint; listed newest first
    pasted = client.post(url, json={"text": "ROMEO: thee", "checkpoint": "best"}).json()
    assert pasted["dataset_id"] is None and pasted["checkpoint"] == "best"
    assert evaluate_now(pasted["id"]) == "done"
    assert [e["id"] for e in client.get(url).json()] == [pasted["id"], queued["id"]]
    assert client.get(f"{url}/{pasted['id']}").json()["characters"] == len("ROMEO: thee")


def test_text_the_model_cannot_read_fails_with_the_reason(client, trained):
    run_id = finished_run(trained, "ckpt.pt")
    made = client.post(f"/api/v1/runs/{run_id}/evaluations", json={"text": "ROMEO 🙂"}).json()
    assert evaluate_now(made["id"]) == "failed"
    failed = client.get(f"/api/v1/runs/{run_id}/evaluations/{made['id']}").json()
    assert failed["state"] == "failed" and failed["failure_reason"] == "data"
    assert "'🙂'" in failed["failure_message"] and failed["loss"] is None


def test_refusals_name_the_problem(client, trained):
    run_id = finished_run(trained, "ckpt.pt")
    url = f"/api/v1/runs/{run_id}/evaluations"
    assert_error(client.post(url, json={}), 422, "invalid", "dataset_id")
    dataset_id = make_dataset(TEXT)
    both = {"dataset_id": dataset_id, "text": "a"}
    assert_error(client.post(url, json=both), 422, "invalid", "dataset_id")
    assert_error(client.post(url, json={"text": "  \n"}), 422, "invalid", "text")
    assert_error(client.post(url, json={"text": "a\0b"}), 422, "invalid", "text")
    assert_error(client.post(url, json={"text": 5}), 422, "invalid", "text")
    assert_error(client.post(url, json={"dataset_id": 0}), 422, "invalid", "dataset_id")
    assert_error(client.post(url, json={"text": "a", "seed": 1}), 422, "invalid", "seed")
    assert_error(client.post(url, json={"text": "a", "checkpoint": "x"}), 422, "invalid",
                 "checkpoint")  # fmt: skip
    assert_error(client.post(url, json={"dataset_id": 10**9}), 404, "not_found", "dataset_id")
    inspecting = make_dataset(None, state="inspecting")
    busy = assert_error(
        client.post(url, json={"dataset_id": inspecting}), 409, "dataset_not_ready", "dataset_id"
    )
    assert "still being inspected" in busy["message"]
    no_best = assert_error(
        client.post(url, json={"text": "a", "checkpoint": "best"}),
        409,
        "no_checkpoint",
        "checkpoint",
    )
    assert "best.pt" in no_best["message"]
    assert_error(client.post("/api/v1/runs/999999/evaluations", json={"text": "a"}), 404,
                 "not_found", "run_id")  # fmt: skip
    assert_error(client.get(f"{url}/999999"), 404, "not_found", "evaluation_id")
    other = finished_run(trained, "ckpt.pt")
    theirs = client.post(f"/api/v1/runs/{other}/evaluations", json={"text": "a"}).json()
    assert_error(client.get(f"{url}/{theirs['id']}"), 404, "not_found", "evaluation_id")
    with get_db().session() as session:  # nothing refused was written
        assert session.query(Evaluation).filter_by(run_id=run_id).count() == 0


def test_a_lost_evaluation_is_put_back_then_failed(client, trained):
    run_id = finished_run(trained, "ckpt.pt")
    made = client.post(f"/api/v1/runs/{run_id}/evaluations", json={"text": "ROMEO"}).json()
    with get_db().transaction() as session:
        row = session.get(Evaluation, made["id"])
        row.state, row.worker_id, row.attempts = "running", "gone@host", 1
        row.progress, row.heartbeat_at = 0.5, ago(3600)
    reaped = reap_lease(EVALUATIONS, stale_after_s=60, max_attempts=2)
    assert reaped.requeued == [made["id"]]
    back = client.get(f"/api/v1/runs/{run_id}/evaluations/{made['id']}").json()
    assert back["state"] == "queued" and back["progress"] == 0.0
    with get_db().transaction() as session:
        row = session.get(Evaluation, made["id"])
        row.state, row.worker_id, row.attempts, row.heartbeat_at = "running", "x@h", 2, ago(3600)
    assert reap_lease(EVALUATIONS, stale_after_s=60, max_attempts=2).failed == [made["id"]]
    failed = client.get(f"/api/v1/runs/{run_id}/evaluations/{made['id']}").json()
    assert failed["state"] == "failed" and failed["failure_reason"] == "worker_lost"
