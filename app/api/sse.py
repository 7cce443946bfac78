"""Server-sent events that replay a run's rows from the database after Last-Event-ID, then
follow the run's pub/sub channel. Rows are committed before they are published and the
subscription starts before the replay, so nothing falls between the two; ids only grow, so
nothing is sent twice."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import redis.asyncio as aioredis
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from app.core.broker import run_channel
from app.core.db import get_db
from app.core.models import Run
from app.core.states import FINISHED_RUN_STATES

KEEPALIVE_S = 15.0
STATE_POLL_S = 5.0  # fallback for a state message missed while reconnecting
PAGE = 1000

FetchAfter = Callable[[int, int, int], list[dict[str, Any]]]


def format_event(event: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    body = json.dumps(data, separators=(",", ":"), default=str)
    return f"{head}event: {event}\ndata: {body}\n\n"


def last_event_id(request: Request, after: int | None) -> int:
    header = request.headers.get("last-event-id", "")
    if header.strip().isdigit():
        return int(header)
    return after or 0


def _run_state(run_id: int) -> dict[str, Any] | None:
    with get_db().session() as session:
        run = session.get(Run, run_id)
        if run is None:
            return None
        return {
            "state": run.state,
            "failure_reason": run.failure_reason,
            "failure_message": run.failure_message,
            "iter": run.iter,
        }


async def follow_run(
    request: Request,
    redis_client: aioredis.Redis,
    *,
    run_id: int,
    kind: str,
    after: int,
    fetch_after: FetchAfter,
) -> AsyncIterator[str]:
    """`kind` events ("metric" or "log") with row ids as event ids, then one `done`."""
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(run_channel(run_id))
    last = after
    try:
        yield "retry: 2000\n\n"
        while True:  # replay
            rows = await run_in_threadpool(fetch_after, run_id, last, PAGE)
            for row in rows:
                yield format_event(kind, row, row["id"])
                last = row["id"]
            if len(rows) < PAGE:
                break
        state = await run_in_threadpool(_run_state, run_id)
        if state is None or state["state"] in FINISHED_RUN_STATES:
            yield format_event("done", state or {"state": "deleted"})
            return
        quiet_since = checked_at = time.monotonic()
        while not await request.is_disconnected():
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            now = time.monotonic()
            if message is not None:
                data = json.loads(message["data"])
                if data.get("type") == kind and data["id"] > last:
                    last = data["id"]
                    quiet_since = now
                    yield format_event(kind, data["row"], last)
                    continue
                if data.get("type") != "state" or data.get("state") not in FINISHED_RUN_STATES:
                    continue
            elif now - checked_at < STATE_POLL_S:
                if now - quiet_since > KEEPALIVE_S:
                    quiet_since = now
                    yield ": keepalive\n\n"
                continue
            checked_at = now
            state = await run_in_threadpool(_run_state, run_id)
            if state is None or state["state"] in FINISHED_RUN_STATES:
                for row in await run_in_threadpool(fetch_after, run_id, last, PAGE):
                    yield format_event(kind, row, row["id"])
                yield format_event("done", state or {"state": "deleted"})
                return
    finally:
        await pubsub.unsubscribe()
        await pubsub.aclose()
