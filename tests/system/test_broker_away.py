"""With the broker away the API still answers: SSE replays and follows from the database, and
what needs the broker is a 503 in the one error shape, never a 500."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sse_client import parse
from studio_rows import make_run
from studio_stack import TOKEN, assert_error, use_environment

from app.store.history import Batch, metric_row
from app.store.run_lease import Outcome, claim, finish, heartbeat
from app.store.states import RunState
from worker.engine.events import StepEvent

AWAY = "redis://127.0.0.1:9/0"  # nothing listens on the discard port


@pytest.fixture
def away(local_env: dict[str, str]) -> Iterator[object]:
    """The app with a broker that does not answer; the database is there."""
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.store.settings import get_settings

    use_environment(local_env)
    app = create_app(get_settings().model_copy(update={"redis_url": AWAY}))
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client


def _step(i: int) -> dict:
    return metric_row(StepEvent(iter=i, lr=1e-3, loss=3.0 - i / 10), datetime.now(UTC))


def test_sse_follows_from_the_database_while_the_broker_is_away(away) -> None:
    run_id = make_run()
    assert claim(run_id, "w:1").held
    heartbeat(run_id, "w:1", batch=Batch(metrics=[_step(1), _step(2)]))

    def train_on() -> None:  # what a training process writes while the stream is open
        time.sleep(1.5)
        heartbeat(run_id, "w:1", batch=Batch(metrics=[_step(3)]))
        time.sleep(1.5)
        finish(run_id, "w:1", Outcome(RunState.SUCCEEDED), batch=Batch(metrics=[_step(4)]))

    writer = threading.Thread(target=train_on)
    writer.start()
    with away.stream("GET", f"/api/v1/runs/{run_id}/metrics/stream") as response:
        assert response.status_code == 200
        events = list(parse(response.iter_lines()))
    writer.join()
    assert [e.data["iter"] for e in events if e.event == "metric"] == [1, 2, 3, 4]
    assert events[-1].event == "done" and events[-1].data["state"] == "succeeded"


def test_what_needs_the_broker_is_a_503(away, local_env) -> None:
    health = away.get("/api/v1/health")
    assert health.status_code == 503 and health.json()["broker"] is False
    assert health.json()["database"] is True
    assert_error(away.get("/api/v1/system"), 503, "broker_unavailable")
    run_id = make_run(state="succeeded")
    from app.store.settings import get_settings

    ckpt = get_settings().run_dir(run_id) / "ckpt.pt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    ckpt.write_bytes(b"not read: the request stops at the broker")
    sample = away.post(f"/api/v1/runs/{run_id}/samples", json={"prompt": "a"})
    assert_error(sample, 503, "broker_unavailable")
