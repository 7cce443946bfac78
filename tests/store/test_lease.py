"""The one lease (app/store/lease.py) over the four kinds of job it holds (runs,
preparations, exports, inspections), on SQLite and PostgreSQL: a claim excludes every other
owner, only the owner writes, a stale lease is reaped back onto the queue until its attempts
are spent and then fails saying so, a cancel outlives a lost worker, wake-ups are re-sent
from the database, and a train queue is first queued, first started.

Each backend gets a database and a broker of its own, with no workers, so nothing but these
tests claims, reaps or consumes."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from studio_rows import ago, get_run, job_ids, make_preparation, make_run
from studio_stack import (
    embedded_broker,
    missing,
    reset_database,
    restored_environment,
    use_environment,
)

from app.store import datasets, exports, lease, preparations, run_lease, run_queries
from app.store.db import get_db
from app.store.lease import Lease
from app.store.models import Dataset, Export, LogLine, Preparation, Run
from app.store.queues import Task
from app.store.settings import get_settings
from app.store.states import FailureReason, RunState

PG_SCHEMA = "studio_lease_tests"


def _postgres_url() -> str:
    """Its own schema of the test database, so the service tests' tables are untouched."""
    from sqlalchemy import text

    from app.store.db import make_engine

    url = os.environ.get("STUDIO_TEST_DATABASE_URL")
    if not url:
        missing("PostgreSQL (set STUDIO_TEST_DATABASE_URL)")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
    engine.dispose()
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{PG_SCHEMA}"


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ],
)
def quiet(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[dict[str, str]]:
    """A migrated database and an embedded valkey on `backend`, and no workers."""
    data_dir: Path = tmp_path_factory.mktemp(f"lease-{request.param}")
    url = f"sqlite:///{data_dir / 'studio.db'}" if request.param == "sqlite" else _postgres_url()
    reset_database(url)
    with embedded_broker(data_dir / "valkey") as redis_url, restored_environment():
        env = {
            "STUDIO_DATA_DIR": str(data_dir),
            "STUDIO_DATABASE_URL": url,
            "STUDIO_REDIS_URL": redis_url,
        }
        use_environment(env)
        yield env


# --- one queued row of each kind ---


def _queued_run(**values: Any) -> int:
    return make_run(**values)


def _queued_preparation(**values: Any) -> int:
    return make_preparation(**values)


def _queued_export(**values: Any) -> int:
    run_id = make_run(state="succeeded")
    fields = {"run_id": run_id, "format": "hf", "checkpoint": "latest", "state": "queued",
              "attempts": 0}  # fmt: skip
    with get_db().transaction() as session:
        export = Export(**{**fields, **values})
        session.add(export)
        session.flush()
        return export.id


def _inspecting_dataset(**values: Any) -> int:
    fields = {"name": "big.txt", "state": "inspecting", "bytes": 1, "attempts": 0,
              "progress": 0.0, "heartbeat_at": ago(0)}  # fmt: skip
    with get_db().transaction() as session:
        dataset = Dataset(**{**fields, **values})
        session.add(dataset)
        session.flush()
        return dataset.id


@dataclasses.dataclass(frozen=True)
class Kind:
    lease: Lease
    make: Callable[..., int]
    claim: Callable[[int, str], lease.Held]
    heartbeat: Callable[[int, str], lease.Held]
    finish: Callable[[int, str], lease.Held]
    fail: Callable[[int, str], lease.Held]


def _finish_run(run_id: int, owner: str) -> lease.Held:
    return run_lease.finish(run_id, owner, run_lease.Outcome(RunState.SUCCEEDED))


def _finish_preparation(prep_id: int, owner: str) -> lease.Held:
    return preparations.finish(
        prep_id, owner, train_tokens=9, val_tokens=1, vocab_size=3, split="tail"
    )


STATS = {"characters": 1, "lines": 1, "sha256": "0" * 64, "vocab": ["a"], "gpt2_tokens": 1,
         "documents": 1, "doc_lengths": [], "preview_documents": ["a"]}  # fmt: skip

KINDS = {
    "runs": Kind(
        run_lease.RUNS,
        _queued_run,
        run_lease.claim,
        lambda i, owner: run_lease.heartbeat(i, owner, progress={"iter": 1}),
        _finish_run,
        lambda i, owner: lease.fail(run_lease.RUNS, i, owner, FailureReason.DATA, "bad"),
    ),
    "preparations": Kind(
        preparations.PREPARATIONS,
        _queued_preparation,
        preparations.claim,
        lambda i, owner: preparations.heartbeat(i, owner, 0.5),
        _finish_preparation,
        lambda i, owner: preparations.fail(i, owner, FailureReason.DATA, "bad"),
    ),
    "exports": Kind(
        exports.EXPORTS,
        _queued_export,
        exports.claim,
        exports.heartbeat,
        lambda i, owner: exports.finish(i, owner, size_bytes=1, iter_num=1),
        lambda i, owner: exports.fail(i, owner, FailureReason.DATA, "bad"),
    ),
    "inspections": Kind(
        datasets.INSPECTIONS,
        _inspecting_dataset,
        datasets.claim,
        lambda i, owner: datasets.heartbeat(i, owner, 0.5),
        lambda i, owner: datasets.finish(i, owner, STATS, None),
        lambda i, owner: datasets.fail(i, owner, "bad"),
    ),
}


@pytest.fixture(autouse=True)
def empty(quiet: dict[str, str]) -> None:
    """Each test starts with no jobs and an empty broker."""
    from sqlalchemy import delete

    with get_db().transaction() as session:
        for model in (Export, Run, Preparation, Dataset):
            session.execute(delete(model))
    redis.Redis.from_url(get_settings().redis_url).flushdb()


@pytest.fixture(params=list(KINDS))
def kind(request: pytest.FixtureRequest) -> Kind:
    return KINDS[request.param]


def row(kind: Kind, row_id: int) -> Any:
    with get_db().session() as session:
        return session.get(kind.lease.model, row_id)


def make_stale(kind: Kind, row_id: int, *, attempts: int | None = None) -> None:
    """As a worker killed mid-job leaves it: its heartbeat a minute old."""
    with get_db().transaction() as session:
        held = session.get(kind.lease.model, row_id)
        held.heartbeat_at = ago(60)
        if attempts is not None:
            held.attempts = attempts


def reap(kind: Kind, max_attempts: int = 3) -> lease.Reaped:
    return lease.reap(kind.lease, stale_after_s=6, max_attempts=max_attempts)


# --- the lease, the same for every kind ---


def test_a_claim_excludes_every_other_owner(kind: Kind) -> None:
    row_id = kind.make()
    assert kind.claim(row_id, "a:1").held
    assert not kind.claim(row_id, "b:2").held  # a duplicate wake-up, another worker
    assert not kind.claim(row_id, "a:1").held  # not even its owner twice
    claimed = row(kind, row_id)
    assert claimed.state == kind.lease.running and claimed.worker_id == "a:1"
    assert claimed.attempts == 1


def test_only_the_owner_heartbeats(kind: Kind) -> None:
    row_id = kind.make()
    kind.claim(row_id, "a:1")
    make_stale(kind, row_id)
    assert not kind.heartbeat(row_id, "b:2").held
    assert row(kind, row_id).heartbeat_at < ago(30)  # the stranger wrote nothing
    assert kind.heartbeat(row_id, "a:1").held
    assert row(kind, row_id).heartbeat_at > ago(30)


def test_finish_and_fail_from_another_owner_change_nothing(kind: Kind) -> None:
    row_id = kind.make()
    kind.claim(row_id, "a:1")
    before = row(kind, row_id)
    for write in (kind.finish, kind.fail):
        result = write(row_id, "b:2")
        assert not result.held and result.followup.jobs == result.followup.events == []
    after = row(kind, row_id)
    assert (after.state, after.worker_id, after.heartbeat_at) == (
        before.state,
        before.worker_id,
        before.heartbeat_at,
    )
    assert kind.finish(row_id, "a:1").held
    assert row(kind, row_id).state not in (kind.lease.queued, kind.lease.running)
    assert not kind.fail(row_id, "a:1").held  # ended: the lease is gone


def test_a_stale_lease_is_requeued_until_its_attempts_are_spent(kind: Kind) -> None:
    row_id = kind.make()
    for attempt in (1, 2):
        assert kind.claim(row_id, f"w:{attempt}").held
        assert reap(kind).requeued == []  # alive: its heartbeat is fresh
        make_stale(kind, row_id)
        reaped = reap(kind)
        assert reaped.requeued == [row_id] and reaped.failed == []
        assert job_ids(reaped.followup, kind.lease.wake) == [row_id]  # woken again
        back = row(kind, row_id)
        assert back.state == kind.lease.queued and back.worker_id is None
        assert not kind.heartbeat(row_id, f"w:{attempt}").held  # the lost owner's lease
    assert kind.claim(row_id, "w:3").held
    make_stale(kind, row_id)
    reaped = reap(kind)
    assert reaped.failed == [row_id] and job_ids(reaped.followup, kind.lease.wake) == []
    failed = row(kind, row_id)
    message = getattr(failed, "failure_message", None) or failed.error
    assert message == "gave up after 3 attempts; the last: the worker stopped answering"
    assert reap(kind).failed == []  # nothing twice


def test_the_inspection_has_an_owner(quiet) -> None:
    """It had none: any claim took a stale one. Now a second inspect job is refused while
    the first holds it, and the reaper hands a lost one back."""
    kind = KINDS["inspections"]
    dataset_id = kind.make()
    assert datasets.claim(dataset_id, "a:1").held
    assert row(kind, dataset_id).worker_id == "a:1"
    make_stale(kind, dataset_id)
    assert not datasets.claim(dataset_id, "b:2").held  # stale, but still a:1's until reaped
    assert reap(kind).requeued == [dataset_id]
    assert datasets.claim(dataset_id, "b:2").held
    assert not datasets.heartbeat(dataset_id, "a:1", 0.9).held


# --- a cancel outlives a lost worker (issue 20, 1) ---


def _ask_cancel(run_id: int) -> None:
    from app.store.runs import cancel_run

    with get_db().transaction() as session:
        run, _ = cancel_run(session, run_id=run_id)
        assert run.state == RunState.RUNNING and run.cancel_requested


def _log(run_id: int) -> list[str]:
    with get_db().session() as session:
        return [r.line for r in session.query(LogLine).filter_by(run_id=run_id)]


def test_a_cancelled_run_that_loses_its_worker_ends_cancelled(quiet) -> None:
    run_id = make_run()
    assert run_lease.claim(run_id, "w:1").held
    _ask_cancel(run_id)
    make_stale(KINDS["runs"], run_id)
    reaped = reap(KINDS["runs"])
    assert reaped.cancelled == [run_id] and reaped.requeued == reaped.failed == []
    assert job_ids(reaped.followup, run_lease.RUNS.wake) == []  # never woken again
    run = get_run(run_id)
    assert run.state == "cancelled" and run.finished_at is not None
    assert _log(run_id) == ["attempt 1 ended: the worker stopped answering; cancelled, as asked"]
    assert not run_lease.claim(run_id, "w:2").held  # never trained again


def test_a_cancelled_run_whose_process_dies_ends_cancelled(quiet) -> None:
    run_id = make_run()
    run_lease.claim(run_id, "w:1")
    _ask_cancel(run_id)
    cause = "the training process was killed by signal 9"
    lost = run_lease.lose(run_id, "w:1", cause=cause, out_of_memory=False, max_attempts=3)
    assert lost.held and job_ids(lost.followup, run_lease.RUNS.wake) == []
    assert get_run(run_id).state == "cancelled"


def test_a_cancelled_run_handed_back_by_a_stopping_service_ends_cancelled(quiet) -> None:
    run_id = make_run()
    run_lease.claim(run_id, "w:1")
    _ask_cancel(run_id)
    back = run_lease.finish(run_id, "w:1", run_lease.Outcome(RunState.QUEUED))
    assert back.held and job_ids(back.followup, run_lease.RUNS.wake) == []
    assert get_run(run_id).state == "cancelled"


def test_a_claim_never_takes_or_clears_a_cancel(quiet) -> None:
    """A queued run with the flag (put back as the cancel came) is never claimed, and the
    reaper ends it cancelled."""
    run_id = make_run(cancel_requested=True)
    assert not run_lease.claim(run_id, "w:1").held
    assert get_run(run_id).cancel_requested
    assert reap(KINDS["runs"]).cancelled == [run_id]
    assert get_run(run_id).state == "cancelled"


# --- wake-ups are re-sent from the database (issue 20, 2) ---


def _private(kind: Kind, queue: str) -> Lease:
    """The kind's lease with its wake-ups on a queue of this test's own."""
    wake = Task(kind.lease.wake.name, queue)
    return dataclasses.replace(kind.lease, wake=wake, queue=None)


def _waiting(queue: str) -> int:
    return int(redis.Redis.from_url(get_settings().redis_url).llen(queue))


def test_a_wake_up_is_resent_until_the_row_is_claimed(kind: Kind) -> None:
    queue = f"lease-test-{kind.lease.name}"
    private = _private(kind, queue)
    row_id = kind.make()
    with get_db().transaction() as session:  # queued a minute ago; its wake-up never came
        queued = session.get(kind.lease.model, row_id)
        for column in kind.lease.queued_since:
            setattr(queued, column.key, ago(60))
    assert lease.resend(private, get_settings(), after_s=30) == [row_id]
    assert _waiting(queue) == 1
    # waiting on its queue, undelivered: not sent twice
    assert lease.resend(private, get_settings(), after_s=0) == []
    redis.Redis.from_url(get_settings().redis_url).delete(queue)  # delivered, then lost
    assert lease.resend(private, get_settings(), after_s=30) == []  # woken just now
    assert lease.resend(private, get_settings(), after_s=0) == [row_id]
    assert kind.claim(row_id, "w:1").held
    assert lease.resend(private, get_settings(), after_s=0) == []  # claimed: held by w:1


def test_a_wake_up_delivered_to_a_lost_worker_is_resent(quiet) -> None:
    """The broker's delivered-and-unacknowledged set counts for nothing: that worker may be
    gone, and Celery's Redis transport would give the message back only after hours."""
    conn = redis.Redis.from_url(get_settings().redis_url)
    queue = "lease-test-unacked"
    private = dataclasses.replace(
        run_lease.RUNS, queue=None, wake=Task(run_lease.RUNS.wake.name, queue)
    )
    run_id = make_run(queued_at=ago(60))
    assert lease.resend(private, get_settings(), after_s=30) == [run_id]
    message = conn.lpop(queue)  # a worker takes it, as kombu does, then dies
    conn.hset("unacked", "tag", f'[{message.decode()}, "", "{queue}"]')
    assert lease.resend(private, get_settings(), after_s=0) == [run_id]


# --- first queued, first started, on each queue (issue 20, 8) ---


def test_a_run_put_back_keeps_its_place(quiet) -> None:
    queue = "train.cuda.7"  # a queue of this test's own
    first = make_run(queue=queue, queued_at=ago(30))
    second = make_run(queue=queue, queued_at=ago(20))
    assert run_lease.claim(first, "w:1").held
    make_stale(KINDS["runs"], first)
    assert reap(KINDS["runs"]).requeued == [first]
    third = make_run(queue=queue, queued_at=ago(10))
    order = [run_id for run_id, _ in run_queries.queued_in_order(queue, limit=10)]
    assert order == [first, second, third]
    with get_db().session() as session:
        positions = run_queries.queue_positions(session)
    assert [positions[r] for r in order] == [1, 2, 3]


def test_positions_count_only_runs_that_can_still_start_on_their_queue(quiet) -> None:
    mine, other = "train.cuda.5", "train.cuda.6"
    flagged = make_run(queue=mine, queued_at=ago(30), cancel_requested=True)
    waiting = make_run(queue=mine, queued_at=ago(20))
    elsewhere = make_run(queue=other, queued_at=ago(10))
    with get_db().session() as session:
        positions = run_queries.queue_positions(session)
    assert flagged not in positions
    assert positions[waiting] == 1 and positions[elsewhere] == 1


def test_a_train_wake_up_starts_the_oldest_run_of_its_queue(quiet, monkeypatch) -> None:
    """Whichever of a queue's wake-ups a worker gets first, the first queued run starts
    first; a wake-up with nothing left to start on its queue is a no-op."""
    from worker.jobs.gpu_locks import GPUS_ENV
    from worker.jobs.tasks.train import take

    monkeypatch.setenv(GPUS_ENV, "")  # a host without GPUs: every run here takes the CPU
    older = make_run(queued_at=ago(20))
    newer = make_run(queued_at=ago(10))
    elsewhere = make_run(queue="train.cuda.3", queued_at=ago(30))  # not this queue
    started = []
    for owner in ("w:1", "w:2"):
        taken = take(newer, owner)  # the newer run's wake-up, twice (a duplicate)
        assert taken is not None
        run_id, placement = taken
        placement.close()
        started.append(run_id)
        assert get_run(run_id).state == "running" and get_run(run_id).worker_id == owner
    assert started == [older, newer]
    assert take(newer, "w:3") is None
    assert get_run(elsewhere).state == "queued"
