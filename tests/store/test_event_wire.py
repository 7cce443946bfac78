"""One serializer per event: a metric point and a log line read the same in the REST history,
the SSE replay and the live publish, down to the byte."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import redis
from studio_rows import make_run

from app.api.sse import format_event
from app.store import history
from app.store.broker import run_channel
from app.store.db import get_db
from app.store.event_wire import METRIC_FIELDS, RunEvent, metric_point, utc_text
from app.store.history import Batch, log_row, metric_row
from app.store.run_lease import claim, heartbeat
from app.store.settings import get_settings
from worker.engine.events import StepEvent


def test_times_are_utc_with_a_z_in_every_zone() -> None:
    moment = datetime(2026, 12, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert utc_text(moment) == "2026-12-01T12:00:00.123456Z"
    assert utc_text(moment.astimezone(timezone(timedelta(hours=5)))) == utc_text(moment)


def test_a_point_has_the_api_s_fields_in_order() -> None:
    step = StepEvent(iter=3, lr=1e-3, loss=2.5, tokens_per_sec=10.0, elapsed_s=1.0)
    point = metric_point({**metric_row(step, datetime(2026, 1, 1, tzinfo=UTC)), "id": 7})
    assert list(point) == list(METRIC_FIELDS)
    assert point["train_loss"] == 2.5 and point["val_loss"] is None
    assert point["logged_at"] == "2026-01-01T00:00:00Z"


def _live_frames(run_id: int, batch: Batch) -> dict[tuple[str, int], str]:
    """Record `batch` as a training process does, and catch what goes out live, as SSE."""
    conn = redis.Redis.from_url(get_settings().redis_url)
    pubsub = conn.pubsub()
    pubsub.subscribe(run_channel(run_id))
    assert pubsub.get_message(timeout=10)["type"] == "subscribe"
    try:
        report = heartbeat(run_id, "w:1", batch=batch, progress={"iter": 1})
        assert report.held
        report.followup.send()
        frames = {}
        while len(frames) < len(report.followup.events):
            message = pubsub.get_message(timeout=10)
            assert message is not None, "a published event did not arrive"
            event = RunEvent.from_message(message["data"])
            assert event.id is not None
            frames[event.kind, event.id] = format_event(event.kind, event.data, event.id)
        return frames
    finally:
        pubsub.close()
        conn.close()


def test_a_live_event_and_its_replay_are_byte_identical(client) -> None:
    run_id = make_run()
    assert claim(run_id, "w:1").held
    # Floats that a careless round trip would change, and a time with microseconds.
    step = StepEvent(
        iter=1, lr=6e-4 / 7, loss=2.0 / 3, tokens_per_sec=12345.678, mfu=None,
        elapsed_s=0.1 + 0.2, eta_s=1e-7, memory_bytes=2**40 + 1, dt_ms=0.5,
        val_loss=1.0 / 3, eval_train_loss=1e300,
    )  # fmt: skip
    batch = Batch(
        metrics=[metric_row(step, datetime.now(UTC))],
        logs=[log_row("step 1: «train» loss 0.6667 ✓", datetime.now(UTC))],
    )
    live = _live_frames(run_id, batch)
    with get_db().session() as session:
        points = history.metric_points_after(session, run_id=run_id, after_id=0, limit=10)
        lines = history.log_lines_after(session, run_id=run_id, after_id=0, limit=10)
    replayed = {("metric", row["id"]): format_event("metric", row, row["id"]) for row in points}
    replayed |= {("log", row["id"]): format_event("log", row, row["id"]) for row in lines}
    assert len(live) == 2 and live == replayed

    rest = client.get(f"/api/v1/runs/{run_id}/metrics").json()["points"]
    assert rest == points  # the REST history says the same
    logs = client.get(f"/api/v1/runs/{run_id}/logs").json()["items"]
    assert logs == lines
