"""A completion request (POST /v1/completions): like a sample, it has no row, only a life on
the broker. The API subscribes to the request's channel, puts the request in its model's
waiting list (a Redis list per run and checkpoint) and wakes a complete job; the job takes
every request waiting for that model (up to a batch) and generates them together
(`worker.engine.sampling.together`), so concurrent clients share each forward pass; a
wake-up that finds the list empty (another job took its request) ends at once. The job
publishes on each request's channel:

    start {prompt_tokens, together}
    ─▶ piece {index, text, logprobs, finish_reason, completion_tokens} …
    ─▶ done                                   (or error {code, message, field})

`prompt_tokens` counts every prompt's tokens; a choice's last piece has its finish reason and
the tokens it generated. The messages are shaped here, for the job and the API."""

from __future__ import annotations

import json
import time
from typing import Any, Literal

import redis

from app.store.broker import client, describe
from app.store.errors import UnavailableError
from app.store.event_wire import encode
from app.store.followup import Followup
from app.store.queues import COMPLETE
from app.store.settings import Settings

CompletionKind = Literal["start", "piece", "done", "error"]


def waiting_key(run_id: int, checkpoint: str) -> str:
    """The list of completion requests waiting for one model."""
    return f"studio:completions:{run_id}:{checkpoint}"


def request_completion(
    settings: Settings, *, request_id: str, run_id: int, payload: dict[str, Any], expires_s: float
) -> None:
    """Put the request in its model's waiting list and wake a complete job (dropped, with
    the request, when nobody waits for the answer any more); 503 when the broker is away."""
    entry = {"request_id": request_id, "payload": payload, "expires_at": time.time() + expires_s}
    key = waiting_key(run_id, payload["checkpoint"])
    try:
        conn = client(settings)
        try:
            with conn.pipeline() as pipe:
                pipe.rpush(key, json.dumps(entry))
                pipe.expire(key, int(expires_s) + 60)  # nothing lingers if no worker comes
                pipe.execute()
        finally:
            conn.close()
    except (redis.RedisError, OSError) as exc:
        raise UnavailableError(describe(exc), code="broker_unavailable") from exc
    followup = Followup()
    followup.enqueue(COMPLETE, run_id, payload["checkpoint"], expires_s=expires_s)
    followup.send()


def rows_of(payload: dict[str, Any]) -> int:
    """The batch rows a request takes: a row per choice of each prompt."""
    return len(payload["prompts"]) * int(payload["options"].get("n") or 1)


def take_requests(
    conn: redis.Redis, *, run_id: int, checkpoint: str, rows: int
) -> list[dict[str, Any]]:
    """The requests waiting for this model, oldest first, up to `rows` batch rows (always
    at least one, if any waits); those whose client has given up are dropped."""
    key = waiting_key(run_id, checkpoint)
    taken: list[dict[str, Any]] = []
    total = 0
    while total < rows:
        raw = conn.lpop(key)
        if raw is None:
            break
        entry = json.loads(raw)
        if entry["expires_at"] < time.time():
            continue
        size = rows_of(entry["payload"])
        if taken and total + size > rows:
            conn.lpush(key, raw)  # back at the head: the next batch starts with it
            break
        taken.append(entry)
        total += size
    return taken


def message(kind: CompletionKind, **data: Any) -> str:
    return encode({"type": kind, **data})


def started(prompt_tokens: int, together: int) -> str:
    """`together`: the requests generated in one batch with this one (1: alone)."""
    return message("start", prompt_tokens=prompt_tokens, together=together)


def piece(
    index: int,
    text: str,
    logprobs: dict[str, Any] | None,
    finish_reason: str | None,
    completion_tokens: int,
) -> str:
    return message(
        "piece",
        index=index,
        text=text,
        logprobs=logprobs,
        finish_reason=finish_reason,
        completion_tokens=completion_tokens,
    )


def done() -> str:
    return message("done")


def failed(code: str, text: str, field: str | None = None) -> str:
    return message("error", code=code, message=text, field=field)
