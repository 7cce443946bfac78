"""The reaper re-queues runs whose heartbeat went stale, up to max_attempts, then fails them."""

import redis
from studio_rows import ago, get_run, make_preparation, make_run

from app.store.db import get_db
from app.store.models import Preparation
from app.store.settings import get_settings
from worker.jobs.reaper import reap


def train_queue_length() -> int:
    return redis.Redis.from_url(get_settings().redis_url).llen("train")


def test_stale_runs_are_requeued_then_given_up(local_env):
    settings = get_settings()
    stale = make_run(state="running", worker_id="gone:1", heartbeat_at=ago(60), attempts=1)
    fresh = make_run(state="running", worker_id="here:1", heartbeat_at=ago(0), attempts=1)
    spent = make_run(state="running", worker_id="gone:2", heartbeat_at=ago(60), attempts=3)
    before = train_queue_length()
    reaped = reap(settings)
    assert stale in reaped["runs"].requeued and spent in reaped["runs"].failed
    assert fresh not in reaped["runs"].requeued + reaped["runs"].failed
    assert train_queue_length() == before + 1  # a wake-up for the re-queued run
    assert get_run(stale).state == "queued" and get_run(stale).worker_id is None
    assert get_run(fresh).state == "running"
    lost = get_run(spent)
    assert lost.state == "failed" and lost.failure_reason == "worker_lost"
    assert reap(settings)["runs"].requeued == []  # nothing twice


def test_stale_preparations_are_requeued(local_env):
    prep_id = make_preparation(worker_id="gone:1", heartbeat_at=ago(60), attempts=1)
    with get_db().transaction() as session:
        session.get(Preparation, prep_id).state = "running"
    assert prep_id in reap(get_settings())["preparations"].requeued
    with get_db().session() as session:
        assert session.get(Preparation, prep_id).state == "queued"


def test_a_queued_run_whose_wake_up_was_lost_is_sent_again(local_env):
    """The broker restarted without its messages, or was away when the run was queued."""
    settings = get_settings()
    lost = make_run(state="queued", queued_at=ago(60))  # queued, and no message was sent
    fresh = make_run(state="queued", queued_at=ago(0))  # its message may be on the way
    before = train_queue_length()
    reaped = reap(settings)
    assert lost in reaped["runs"].resent and fresh not in reaped["runs"].resent
    assert train_queue_length() == before + len(reaped["runs"].resent)
    assert lost not in reap(settings)["runs"].resent  # the broker holds it now


def test_a_queued_preparation_whose_wake_up_was_lost_is_sent_again(local_env):
    prep_id = make_preparation(heartbeat_at=ago(60))
    assert prep_id in reap(get_settings())["preparations"].resent
    assert prep_id not in reap(get_settings())["preparations"].resent
