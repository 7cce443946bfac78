"""A job claims its row with a conditional UPDATE; the second claim of the same row loses."""

from studio_rows import get_run, make_preparation, make_run

from app.store.preparations import claim_preparation
from app.store.runs import claim_run, record
from worker.jobs.identity import worker_id


def test_only_one_claim_wins(local_env):
    run_id = make_run()
    assert claim_run(run_id, "a:1")
    assert not claim_run(run_id, "b:2")  # a redelivered message
    run = get_run(run_id)
    assert run.state == "running" and run.worker_id == "a:1" and run.attempts == 1


def test_writes_need_the_lease(local_env):
    run_id = make_run()
    claim_run(run_id, "a:1")
    assert not record(run_id, "b:2", progress={"iter": 5}).held
    assert record(run_id, "a:1", progress={"iter": 5}).held
    assert get_run(run_id).iter == 5


def test_cancelled_runs_cannot_be_claimed(local_env):
    assert not claim_run(make_run(state="cancelled"), "a:1")


def test_preparations_are_claimed_once(local_env):
    prep_id = make_preparation()
    assert claim_preparation(prep_id, "a:1")
    assert not claim_preparation(prep_id, "a:1")


def test_worker_id_names_host_and_process():
    host, pid = worker_id().rsplit(":", 1)
    assert host and pid.isdigit()
