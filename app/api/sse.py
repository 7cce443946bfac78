"""Server-sent events that replay a run's rows from the database after Last-Event-ID, then
follow the run's pub/sub channel. Rows are committed before they are published and the
subscription starts before the replay, so nothing falls between the two; ids only grow, so
nothing is sent twice. Replayed and live events are shaped by the same serializer
(`app.store.events`), so they are byte for byte the same."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from app.store.broker import AsyncClient, run_channel
from app.store.events import Event, RunEvent, encode
from app.store.run_queries import state_of
from app.store.states import FINISHED_RUN_STATES

KEEPALIVE_S = 15.0
STATE_POLL_S = 5.0  # fallback for a state message missed while reconnecting
PAGE = 1000

FetchAfter = Callable[[int, int, int], list[Event]]


def format_event(event: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {encode(data)}\n\n"


def last_event_id(request: Request, after: int | None) -> int:
    header = request.headers.get("last-event-id", "")
    if header.strip().isdigit():
        return int(header)
    return after or 0


def _finished(state: Event | None) -> bool:
    return state is None or state["state"] in FINISHED_RUN_STATES


async def follow_run(
    request: Request,
    redis_client: AsyncClient,
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
        state = await run_in_threadpool(state_of, run_id)
        if _finished(state):
            yield format_event("done", state or {"state": "deleted"})
            return
        quiet_since = checked_at = time.monotonic()
        while not await request.is_disconnected():
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            now = time.monotonic()
            if message is not None:
                event = RunEvent.from_message(message["data"])
                if event.kind == kind and event.id is not None and event.id > last:
                    last = event.id
                    quiet_since = now
                    yield format_event(kind, event.data, last)
                    continue
                if event.kind != "state" or event.data["state"] not in FINISHED_RUN_STATES:
                    continue
            elif now - checked_at < STATE_POLL_S:
                if now - quiet_since > KEEPALIVE_S:
                    quiet_since = now
                    yield ": keepalive\n\n"
                continue
            checked_at = now
            state = await run_in_threadpool(state_of, run_id)
            if _finished(state):
                for row in await run_in_threadpool(fetch_after, run_id, last, PAGE):
                    yield format_event(kind, row, row["id"])
                yield format_event("done", state or {"state": "deleted"})
                return
    finally:
        await pubsub.unsubscribe()
        await pubsub.aclose()
