"""The store's run transitions (app/store/runs.py): conditional on the state they leave and
the lease they need, and each publishes the state it leads to once committed."""

from __future__ import annotations

from studio_rows import get_run, job_ids, listening, make_run

from app.store import run_queries
from app.store.db import get_db
from app.store.history import Batch, log_row
from app.store.models import LogLine, utcnow
from app.store.queues import TRAIN
from app.store.run_lease import Outcome, claim, finish, heartbeat, lose
from app.store.states import FailureReason, RunState


def test_only_one_claim_wins(local_env) -> None:
    run_id = make_run()
    assert claim(run_id, "a:1").held
    assert not claim(run_id, "b:2").held  # a redelivered message
    run = get_run(run_id)
    assert run.state == "running" and run.worker_id == "a:1" and run.attempts == 1


def test_writes_need_the_lease(local_env) -> None:
    run_id = make_run()
    claim(run_id, "a:1")
    assert not heartbeat(run_id, "b:2", progress={"iter": 5}).held
    assert heartbeat(run_id, "a:1", progress={"iter": 5}).held
    assert get_run(run_id).iter == 5


def test_cancelled_runs_cannot_be_claimed(local_env) -> None:
    assert not claim(make_run(state="cancelled"), "a:1").held


def test_cancelling_a_waiting_run_is_published_at_once(client) -> None:
    """SSE clients see `done` now, not at their next check of the database."""
    run_id = make_run(state="queued")
    with listening(run_id) as next_message:
        response = client.post(f"/api/v1/runs/{run_id}/cancel")
        assert response.status_code == 202 and response.json()["state"] == "cancelled"
        assert next_message() == {
            "type": "state",
            "id": None,
            "prev": None,
            "data": {"state": "cancelled", "failure_reason": None, "failure_message": None,
                     "iter": 0},
        }  # fmt: skip


def test_a_running_run_gets_the_flag_and_ends_when_its_process_says(client) -> None:
    run_id = make_run(state="queued")
    assert claim(run_id, "w:1").held
    response = client.post(f"/api/v1/runs/{run_id}/cancel")
    assert response.json()["state"] == "running" and response.json()["cancel_requested"]
    assert run_queries.cancel_requested(run_id)
    with listening(run_id) as next_message:
        report = finish(run_id, "w:1", Outcome(RunState.CANCELLED), progress={"iter": 7})
        report.followup.send()
        assert next_message()["data"] == {
            "state": "cancelled", "failure_reason": None, "failure_message": None, "iter": 7,
        }  # fmt: skip
    run = get_run(run_id)
    assert run.state == "cancelled" and run.finished_at is not None


def test_a_process_that_lost_its_lease_writes_nothing(local_env) -> None:
    run_id = make_run(state="queued")
    assert claim(run_id, "w:1").held
    assert not claim(run_id, "w:2").held  # a duplicate message
    batch = Batch(logs=[log_row("from a process that lost its run", utcnow())])
    report = heartbeat(run_id, "w:2", batch=batch, progress={"iter": 99})
    assert not report.held and report.followup.events == []
    with get_db().session() as session:
        assert session.query(LogLine).filter_by(run_id=run_id).count() == 0
    assert get_run(run_id).iter == 0


def test_a_stopping_service_puts_the_run_back_on_the_queue(local_env) -> None:
    run_id = make_run(state="queued")
    claim(run_id, "w:1")
    report = finish(run_id, "w:1", Outcome(RunState.QUEUED), progress={"iter": 3})
    assert report.held and job_ids(report.followup, TRAIN) == [run_id]
    run = get_run(run_id)
    assert run.state == "queued" and run.worker_id is None and run.finished_at is None
    assert run.iter == 3


def _crash(run_id: int, *, out_of_memory: bool = False):
    return lose(
        run_id, "w:1", cause="the training process was killed by signal 9",
        out_of_memory=out_of_memory, max_attempts=3,
    )  # fmt: skip


def _log(run_id: int) -> list[str]:
    with get_db().session() as session:
        return [r.line for r in session.query(LogLine).filter_by(run_id=run_id)]


def test_a_crashed_process_s_run_resumes_while_attempts_remain(local_env) -> None:
    run_id = make_run(state="queued")
    claim(run_id, "w:1")
    followup = _crash(run_id).followup
    assert job_ids(followup, TRAIN) == [run_id]  # back on the queue, to resume
    run = get_run(run_id)
    assert run.state == "queued" and run.worker_id is None and run.failure_reason is None
    assert _log(run_id) == ["attempt 1 ended: the training process was killed by signal 9"]
    assert _crash(run_id).followup.events == []  # not held any more: nothing happens twice


def test_a_crashed_process_fails_its_run_when_attempts_are_spent(local_env) -> None:
    run_id = make_run(state="queued", attempts=2)
    claim(run_id, "w:1")  # the third attempt
    assert job_ids(_crash(run_id).followup, TRAIN) == []
    run = get_run(run_id)
    assert run.state == "failed" and run.failure_reason == FailureReason.INTERNAL
    assert run.failure_message == (
        "gave up after 3 attempts; the last: the training process was killed by signal 9"
    )


def test_a_run_killed_for_memory_fails_as_oom_and_is_not_retried(local_env) -> None:
    run_id = make_run(state="queued")
    claim(run_id, "w:1")
    assert job_ids(_crash(run_id, out_of_memory=True).followup, TRAIN) == []
    run = get_run(run_id)
    assert run.state == "failed" and run.failure_reason == FailureReason.OOM


def test_the_phase_is_told_while_running_and_reset_by_a_claim(client, tmp_path) -> None:
    from app.store.settings import get_settings
    from app.store.states import RunPhase
    from worker.engine.events import StartInfo
    from worker.jobs.run_reporter import RunReporter

    run_id = make_run()
    claim(run_id, "a:1")

    def phase() -> str | None:
        return client.get(f"/api/v1/runs/{run_id}").json()["phase"]

    assert phase() == "starting"  # its process has not reported yet
    reporter = RunReporter(
        run_id=run_id, owner="a:1", settings=get_settings(), log_path=tmp_path / "train.log"
    )
    info = StartInfo(device="cpu", device_name="cpu", dtype="float32", compile=False,
                     n_params=1, tokens_per_iter=8, start_iter=0, max_iters=10)  # fmt: skip
    reporter.on_start(info)
    reporter.finish(None)  # writes what it was told, nothing more
    assert phase() == "evaluating"  # a fresh run evaluates iteration 0 first
    heartbeat(run_id, "a:1", progress={"phase": RunPhase.TRAINING})
    assert phase() == "training"
    finish(run_id, "a:1", Outcome(RunState.QUEUED))
    assert phase() is None  # told only while running
    claim(run_id, "b:2")
    assert phase() == "starting"  # the next attempt's process has not said yet


def test_a_failed_compile_is_told_on_the_run(client, tmp_path) -> None:
    """What the training process says of torch.compile reaches the API: on at its start, then
    "failed: <reason>" when the loop fell back to eager mode (compile_fallback)."""
    from app.store.settings import get_settings
    from worker.engine.events import StartInfo
    from worker.jobs.run_reporter import RunReporter

    run_id = make_run()
    claim(run_id, "a:1")

    def compile_() -> str | None:
        return client.get(f"/api/v1/runs/{run_id}").json()["compile"]

    assert compile_() is None  # its process has not reported yet
    log_path = tmp_path / "train.log"
    reporter = RunReporter(run_id=run_id, owner="a:1", settings=get_settings(), log_path=log_path)
    info = StartInfo(device="cpu", device_name="cpu", dtype="float32", compile=True,
                     n_params=1, tokens_per_iter=8, start_iter=0, max_iters=10)  # fmt: skip
    reporter.on_start(info)
    reporter.before_checkpoint(0)  # writes what it was told so far
    assert compile_() == "on"
    reporter.on_compile_failed("InvalidCxxCompiler: No working C++ compiler found")
    reporter.finish(None)
    assert compile_() == "failed: InvalidCxxCompiler: No working C++ compiler found"
