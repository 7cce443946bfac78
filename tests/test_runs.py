"""The store's run transitions (app/store/runs.py): conditional on the state they leave and
the lease they need, and each publishes the state it leads to once committed."""

from __future__ import annotations

from studio_rows import get_run, listening, make_preparation, make_run

from app.store import preparations, run_queries
from app.store.db import get_db
from app.store.history import Batch, log_row
from app.store.models import LogLine, Run, utcnow
from app.store.queues import TRAIN
from app.store.runs import Outcome, claim_run, fail_crashed_run, record
from app.store.states import FailureReason, RunState


def test_cancelling_a_waiting_run_is_published_at_once(client) -> None:
    """SSE clients see `done` now, not at their next check of the database."""
    run_id = make_run(state="queued")
    with listening(run_id) as next_message:
        response = client.post(f"/api/v1/runs/{run_id}/cancel")
        assert response.status_code == 202 and response.json()["state"] == "cancelled"
        assert next_message() == {
            "type": "state",
            "id": None,
            "data": {"state": "cancelled", "failure_reason": None, "failure_message": None,
                     "iter": 0},
        }  # fmt: skip


def test_a_running_run_gets_the_flag_and_ends_when_its_process_says(client) -> None:
    run_id = make_run(state="queued")
    assert claim_run(run_id, "w:1") is not None
    response = client.post(f"/api/v1/runs/{run_id}/cancel")
    assert response.json()["state"] == "running" and response.json()["cancel_requested"]
    assert run_queries.cancel_requested(run_id)
    with listening(run_id) as next_message:
        report = record(run_id, "w:1", progress={"iter": 7}, outcome=Outcome(RunState.CANCELLED))
        report.followup.send()
        assert next_message()["data"] == {
            "state": "cancelled", "failure_reason": None, "failure_message": None, "iter": 7,
        }  # fmt: skip
    run = get_run(run_id)
    assert run.state == "cancelled" and run.finished_at is not None


def test_a_process_that_lost_its_lease_writes_nothing(local_env) -> None:
    run_id = make_run(state="queued")
    assert claim_run(run_id, "w:1") is not None
    assert claim_run(run_id, "w:2") is None  # a duplicate message
    batch = Batch(logs=[log_row("from a process that lost its run", utcnow())])
    report = record(run_id, "w:2", batch=batch, progress={"iter": 99})
    assert not report.held and report.followup.events == []
    with get_db().session() as session:
        assert session.query(LogLine).filter_by(run_id=run_id).count() == 0
    assert get_run(run_id).iter == 0


def test_a_stopping_service_puts_the_run_back_on_the_queue(local_env) -> None:
    run_id = make_run(state="queued")
    claim_run(run_id, "w:1")
    report = record(run_id, "w:1", progress={"iter": 3}, outcome=Outcome(RunState.QUEUED))
    assert report.held and report.followup.job_ids(TRAIN) == [run_id]
    run = get_run(run_id)
    assert run.state == "queued" and run.worker_id is None and run.finished_at is None
    assert run.iter == 3


def test_a_crashed_process_fails_its_run_once(local_env) -> None:
    run_id = make_run(state="queued")
    claim_run(run_id, "w:1")
    assert len(fail_crashed_run(run_id, "w:1", "killed by signal 9").events) == 1
    assert fail_crashed_run(run_id, "w:1", "again").events == []
    run = get_run(run_id)
    assert run.state == "failed" and run.failure_reason == FailureReason.INTERNAL
    assert run.failure_message == "killed by signal 9"


def _waiting_runs(prep_id: int, count: int) -> list[int]:
    ids = [make_run(state="preparing", queued_at=None) for _ in range(count)]
    with get_db().transaction() as session:
        for run_id in ids:
            session.get(Run, run_id).preparation_id = prep_id
    return ids


def test_a_ready_preparation_queues_the_runs_waiting_for_it(local_env) -> None:
    prep_id = make_preparation()
    waiting = _waiting_runs(prep_id, 2)
    assert preparations.claim_preparation(prep_id, "w:1")
    followup = preparations.finish_preparation(
        prep_id, "w:1", train_tokens=900, val_tokens=100, vocab_size=65
    )
    assert sorted(followup.job_ids(TRAIN)) == waiting
    assert {e.data["state"] for _, e in followup.events} == {"queued"}
    assert all(get_run(r).state == "queued" and get_run(r).queued_at for r in waiting)


def test_a_failed_preparation_fails_the_runs_waiting_for_it(local_env) -> None:
    prep_id = make_preparation()
    waiting = _waiting_runs(prep_id, 2)
    preparations.claim_preparation(prep_id, "w:1")
    assert preparations.fail_preparation(prep_id, "w:2", FailureReason.DATA, "x").events == []
    followup = preparations.fail_preparation(prep_id, "w:1", FailureReason.DATA, "not UTF-8")
    assert sorted(run_id for run_id, _ in followup.events) == waiting
    for run_id in waiting:
        run = get_run(run_id)
        assert run.state == "failed" and run.failure_reason == "data"
        assert run.failure_message == "preparing the data failed: not UTF-8"
