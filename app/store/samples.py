"""A sample request: it has no row, only a life on the broker. The API subscribes to the
request's channel, then wakes the sample job, which publishes what it generates there:

    start {iter} ─▶ token {text} … ─▶ done        (or error {code, message, field})

The messages are shaped here, for the job that sends them and the API that reads them."""

from __future__ import annotations

import json
import secrets
from typing import Any, Literal

from app.store.event_wire import encode
from app.store.followup import Followup
from app.store.queues import SAMPLE

SampleKind = Literal["start", "token", "done", "error"]


def new_request_id() -> str:
    return secrets.token_hex(8)


def request_sample(
    *, request_id: str, run_id: int, payload: dict[str, Any], expires_s: float
) -> Followup:
    """The sample job's wake-up; dropped when nobody waits for the answer any more."""
    followup = Followup()
    followup.enqueue(SAMPLE, request_id, run_id, payload, expires_s=expires_s)
    return followup


def message(kind: SampleKind, **data: Any) -> str:
    return encode({"type": kind, **data})


def started(iter_num: int) -> str:
    return message("start", iter=iter_num)


def token(text: str) -> str:
    return message("token", text=text)


def done() -> str:
    return message("done")


def failed(code: str, text: str, field: str | None = None) -> str:
    return message("error", code=code, message=text, field=field)


def read(raw: str | bytes) -> dict[str, Any]:
    """A message as sent: `type` and its data."""
    return json.loads(raw)
