"""Server-sent events that replay a run's rows from the database after Last-Event-ID, then
follow the run's pub/sub channel (or, while the broker is away, poll the database). Rows are
committed before they are published and the subscription starts before the replay, so
nothing falls between the two; ids only grow, so nothing is sent twice. Replayed and live
events are shaped by the same serializer (`app.store.event_wire`): the same bytes."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from app.store.broker import AsyncClient, BrokerError, run_channel
from app.store.event_wire import Event, RunEvent, encode
from app.store.run_queries import state_of
from app.store.states import FINISHED_RUN_STATES

KEEPALIVE_S = 15.0
STATE_POLL_S = 5.0  # fallback for a state message missed while reconnecting
POLL_S = 1.0  # how often the database is read while the broker is away
RESUBSCRIBE_S = 5.0  # how often a stream tries the broker again
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


class _Channel:
    """The run's pub/sub channel while the broker answers; None-like while it is away."""

    def __init__(self, redis_client: AsyncClient, run_id: int) -> None:
        self.redis_client, self.name = redis_client, run_channel(run_id)
        self.pubsub: Any = None
        self.tried_at = 0.0

    async def open(self) -> bool:
        """Subscribe (at most every RESUBSCRIBE_S); False while the broker is away."""
        if self.pubsub is not None:
            return True
        if time.monotonic() - self.tried_at < RESUBSCRIBE_S:
            return False
        self.tried_at = time.monotonic()
        pubsub = self.redis_client.pubsub()
        try:
            await pubsub.subscribe(self.name)
        except BrokerError:
            await _close(pubsub)
            return False
        self.pubsub = pubsub
        return True

    async def next(self, timeout: float) -> RunEvent | None:
        """The next event, None after `timeout`; closes itself when the broker goes."""
        try:
            message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)
        except BrokerError:
            await self.close()
            raise
        return None if message is None else RunEvent.from_message(message["data"])

    async def close(self) -> None:
        pubsub, self.pubsub = self.pubsub, None
        if pubsub is not None:
            await _close(pubsub)


async def _close(pubsub: Any) -> None:
    with contextlib.suppress(Exception):  # a broker that went away cannot be told
        await pubsub.aclose()


async def follow_run(
    request: Request,
    redis_client: AsyncClient,
    *,
    run_id: int,
    kind: str,
    after: int,
    fetch_after: FetchAfter,
) -> AsyncIterator[str]:
    """`kind` events ("metric" or "log") with row ids as event ids, then one `done`.

    Live events come from the channel; while the broker is away the stream polls the database
    every POLL_S instead and subscribes again when it can, so the replay and the stream never
    depend on the broker."""
    channel = _Channel(redis_client, run_id)
    last = after

    async def catch_up() -> AsyncIterator[str]:
        nonlocal last
        while True:
            rows = await run_in_threadpool(fetch_after, run_id, last, PAGE)
            for row in rows:
                yield format_event(kind, row, row["id"])
                last = row["id"]
            if len(rows) < PAGE:
                return

    try:
        yield "retry: 2000\n\n"
        await channel.open()  # before the replay: nothing falls between the two
        async for frame in catch_up():
            yield frame
        state = await run_in_threadpool(state_of, run_id)
        if _finished(state):
            yield format_event("done", state or {"state": "deleted"})
            return
        quiet_since = checked_at = time.monotonic()
        while not await request.is_disconnected():
            if channel.pubsub is None and await channel.open():
                # Subscribed again: first what was committed while the broker was away.
                async for frame in catch_up():
                    quiet_since = time.monotonic()
                    yield frame
            live = channel.pubsub is not None
            event = None
            if live:
                try:
                    event = await channel.next(timeout=1.0)
                except BrokerError:
                    live = False
            else:
                await asyncio.sleep(POLL_S)
            now = time.monotonic()
            if event is not None:
                if event.kind == kind and event.id is not None and event.id > last:
                    quiet_since = now
                    if event.prev == last:  # the next one: nothing was missed
                        last = event.id
                        yield format_event(kind, event.data, last)
                    else:  # something went by unseen (a broker that blinked): read it all
                        async for frame in catch_up():
                            yield frame
                    continue
                if event.kind != "state" or event.data["state"] not in FINISHED_RUN_STATES:
                    continue
            elif live and now - checked_at < STATE_POLL_S:
                if now - quiet_since > KEEPALIVE_S:
                    quiet_since = now
                    yield ": keepalive\n\n"
                continue
            checked_at = now
            if not live:  # the broker is away: the database is the only source
                async for frame in catch_up():
                    quiet_since = now
                    yield frame
            state = await run_in_threadpool(state_of, run_id)
            if _finished(state):
                async for frame in catch_up():
                    yield frame
                yield format_event("done", state or {"state": "deleted"})
                return
            if now - quiet_since > KEEPALIVE_S:
                quiet_since = now
                yield ": keepalive\n\n"
    finally:
        await channel.close()
