"""The SSE stream never skips a row: an event whose `prev` is not the last one sent tells it
that something went by unseen (a lost publish, a broker that blinked), and it reads the
database instead."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from sse_client import parse
from studio_rows import make_run

from app.store.history import Batch, Chain, metric_row
from app.store.run_lease import Outcome, claim, finish, heartbeat
from app.store.states import RunState
from worker.engine.events import StepEvent


def _steps(*iters: int) -> Batch:
    now = datetime.now(UTC)
    return Batch(metrics=[metric_row(StepEvent(iter=i, lr=1e-3, loss=2.0), now) for i in iters])


def test_a_lost_publish_is_read_from_the_database(client) -> None:
    run_id = make_run()
    assert claim(run_id, "w:1").held
    chain = Chain()

    def train_on() -> None:
        time.sleep(1.5)  # the stream is following live by now
        heartbeat(run_id, "w:1", batch=_steps(1, 2), chain=chain).followup.send()
        time.sleep(0.5)
        heartbeat(run_id, "w:1", batch=_steps(3, 4), chain=chain)  # committed, never published
        time.sleep(0.5)
        heartbeat(run_id, "w:1", batch=_steps(5), chain=chain).followup.send()
        time.sleep(0.5)
        ended = finish(run_id, "w:1", Outcome(RunState.SUCCEEDED), chain=chain)
        ended.followup.send()

    writer = threading.Thread(target=train_on)
    writer.start()
    with client.stream("GET", f"/api/v1/runs/{run_id}/metrics/stream") as response:
        assert response.status_code == 200
        events = list(parse(response.iter_lines()))
    writer.join()
    assert [e.data["iter"] for e in events if e.event == "metric"] == [1, 2, 3, 4, 5]
    assert events[-1].event == "done" and events[-1].data["state"] == "succeeded"
