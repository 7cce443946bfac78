"""A completion request (POST /v1/completions): like a sample, it has no row, only a life on
the broker. The API subscribes to the request's channel, then wakes the complete job, which
publishes there:

    start {prompt_tokens} ─▶ piece {index, text, logprobs, finish_reason, completion_tokens} …
    ─▶ done                                   (or error {code, message, field})

`prompt_tokens` counts every prompt's tokens; a choice's last piece has its finish reason and
the tokens it generated. The messages are shaped here, for the job and the API."""

from __future__ import annotations

from typing import Any, Literal

from app.store.event_wire import encode
from app.store.followup import Followup
from app.store.queues import COMPLETE

CompletionKind = Literal["start", "piece", "done", "error"]


def request_completion(
    *, request_id: str, run_id: int, payload: dict[str, Any], expires_s: float
) -> Followup:
    """The complete job's wake-up; dropped when nobody waits for the answer any more."""
    followup = Followup()
    followup.enqueue(COMPLETE, request_id, run_id, payload, expires_s=expires_s)
    return followup


def message(kind: CompletionKind, **data: Any) -> str:
    return encode({"type": kind, **data})


def started(prompt_tokens: int) -> str:
    return message("start", prompt_tokens=prompt_tokens)


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
