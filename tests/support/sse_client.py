"""A small SSE reader for the tests: (event, id, data) tuples from an httpx stream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Event:
    event: str
    id: int | None
    data: Any
    raw: str = ""  # the frame's lines as the server sent them


def events(client: httpx.Client, url: str, **kwargs: Any) -> Iterator[Event]:
    with client.stream("GET", url, **kwargs) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield from parse(response.iter_lines())


def parse(lines: Iterator[str]) -> Iterator[Event]:
    kind, event_id, data, frame = "message", None, [], []
    for line in lines:
        if line == "":
            if data:
                yield Event(kind, event_id, json.loads("\n".join(data)), "\n".join(frame))
            kind, event_id, data, frame = "message", None, [], []
            continue
        frame.append(line)
        if line.startswith(":") or line.startswith("retry:"):
            continue
        elif line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("id:"):
            event_id = int(line[3:].strip())
        elif line.startswith("data:"):
            data.append(line[5:].strip())


def until_done(client: httpx.Client, url: str, **kwargs: Any) -> tuple[list[Event], Event]:
    seen: list[Event] = []
    for event in events(client, url, **kwargs):
        if event.event == "done":
            return seen, event
        seen.append(event)
    raise AssertionError("the stream ended without a done event")
