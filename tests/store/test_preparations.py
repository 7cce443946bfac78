"""The store's preparation transitions (app/store/preparations.py): claimed once, and their
end moves the runs waiting for them."""

from __future__ import annotations

import threading

from studio_rows import get_run, job_ids, make_preparation, make_run

from app.planning.run_config import RunPlan
from app.store import preparations
from app.store.db import get_db
from app.store.followup import Followup
from app.store.models import Dataset, Preparation, Run
from app.store.queues import TRAIN
from app.store.runs import cancel_run, insert_run
from app.store.states import FailureReason
from worker.engine.config.train_config import TrainConfig


def test_preparations_are_claimed_once(local_env) -> None:
    prep_id = make_preparation()
    assert preparations.claim(prep_id, "a:1").held
    assert not preparations.claim(prep_id, "a:1").held


def _waiting_runs(prep_id: int, count: int) -> list[int]:
    ids = [make_run(state="preparing", queued_at=None) for _ in range(count)]
    with get_db().transaction() as session:
        for run_id in ids:
            session.get(Run, run_id).preparation_id = prep_id
    return ids


def test_a_ready_preparation_queues_the_runs_waiting_for_it(local_env) -> None:
    prep_id = make_preparation()
    waiting = _waiting_runs(prep_id, 2)
    assert preparations.claim(prep_id, "w:1").held
    followup = preparations.finish(
        prep_id, "w:1", train_tokens=900, val_tokens=100, vocab_size=65, split="tail"
    ).followup
    assert sorted(job_ids(followup, TRAIN)) == waiting
    assert {e.data["state"] for _, e in followup.events} == {"queued"}
    assert all(get_run(r).state == "queued" and get_run(r).queued_at for r in waiting)


def test_a_failed_preparation_fails_the_runs_waiting_for_it(local_env) -> None:
    prep_id = make_preparation()
    waiting = _waiting_runs(prep_id, 2)
    preparations.claim(prep_id, "w:1")
    assert preparations.fail(prep_id, "w:2", FailureReason.DATA, "x").followup.events == []
    followup = preparations.fail(prep_id, "w:1", FailureReason.DATA, "not UTF-8").followup
    assert sorted(run_id for run_id, _ in followup.events) == waiting
    for run_id in waiting:
        run = get_run(run_id)
        assert run.state == "failed" and run.failure_reason == "data"
        assert run.failure_message == "preparing the data failed: not UTF-8"


def test_a_run_stored_while_its_preparation_ends_is_queued(services) -> None:
    """The API stores a run while the prepare job marks its preparation ready: the job waits
    for the API's transaction, so its promotion sees the run (on PostgreSQL, before the row
    lock, the run was committed `preparing` after the promotion had looked, and stayed so)."""
    prep_id = make_preparation()
    assert preparations.claim(prep_id, "w:1").held
    ended: list[Followup] = []
    finisher = threading.Thread(
        target=lambda: ended.append(
            preparations.finish(
                prep_id, "w:1", train_tokens=900, val_tokens=100, vocab_size=65, split="tail"
            ).followup
        )
    )
    with get_db().transaction() as session:
        prep = session.get(Preparation, prep_id)
        dataset = session.get(Dataset, prep.dataset_id)
        prep, _ = preparations.request_preparation(
            session, dataset=dataset, tokenizer="char", val_fraction=0.1
        )
        plan = RunPlan(dataset=dataset, tokenizer="char", val_fraction=0.1, preset=None,
                       cfg=TrainConfig(), name="raced", meta={}, exact=False,
                       prepared=False)  # fmt: skip
        run, _ = insert_run(session, new=plan.new_run(), preparation=prep)
        assert run.state == "preparing"
        finisher.start()
        finisher.join(1.0)
        assert finisher.is_alive(), "the job ended the preparation under an open transaction"
    finisher.join(60)
    assert ended and job_ids(ended[0], TRAIN) == [run.id]  # not sent: no worker trains it
    assert get_run(run.id).state == "queued"
    with get_db().transaction() as session:
        cancel_run(session, run_id=run.id)
