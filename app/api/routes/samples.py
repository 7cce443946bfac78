"""Samples: the `sample` queue's worker generates from a checkpoint; pieces of text come back
over the request's pub/sub channel, as SSE `token` events or gathered into JSON."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from app.api.deps import SessionDep, SettingsDep
from app.api.params import RunId
from app.api.schemas.common import ERROR_RESPONSES
from app.api.schemas.samples import SampleIn, SampleOut
from app.api.sse import format_event
from app.store import samples
from app.store.broker import async_client, sample_channel
from app.store.errors import InvalidError, NotFoundError, StudioError, UnavailableError
from app.store.run_queries import get_run

router = APIRouter(prefix="/runs/{run_id}", tags=["samples"], responses=ERROR_RESPONSES)

CHECKPOINT_ALIASES = {
    "latest": "ckpt.pt",
    "best": "best.pt",
    "ckpt.pt": "ckpt.pt",
    "best.pt": "best.pt",
}


class SampleFailedError(StudioError):
    status = 500
    code = "internal"


def _error(data: dict[str, Any]) -> StudioError:
    if data.get("code") in ("config", "data"):
        return InvalidError(data["message"], field=data.get("field"), code=data["code"])
    return SampleFailedError(data.get("message", "sampling failed"), field=data.get("field"))


async def _messages(request: Request, pubsub: Any, timeout_s: float) -> AsyncIterator[dict]:
    """Messages of one sample until `done` or `error`; 503 if the worker stays silent."""
    deadline = time.monotonic() + timeout_s
    while True:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
        if message is None:
            if await request.is_disconnected():
                return
            if time.monotonic() > deadline:
                raise UnavailableError(
                    "no sample worker answered; is `nanogpt-studio worker --queues sample` up?",
                    code="no_worker",
                )
            continue
        deadline = time.monotonic() + timeout_s
        data = samples.read(message["data"])
        yield data
        if data["type"] in ("done", "error"):
            return


@router.post(
    "/samples",
    responses={200: {"content": {"text/event-stream": {}}, "model": SampleOut}},
)
async def create_sample(
    request: Request, run_id: RunId, body: SampleIn, session: SessionDep, settings: SettingsDep
) -> Any:
    """Generate from the run's `latest` (ckpt.pt) or `best` (best.pt) checkpoint, even while
    it trains. `stream: true` answers with SSE: `start` {iter}, `token` {text}…, then `done`
    {text} or `error` {code, message, field}."""
    name = CHECKPOINT_ALIASES.get(body.checkpoint)
    if name is None:
        raise InvalidError(
            "checkpoint must be latest, best, ckpt.pt or best.pt", field="checkpoint"
        )
    await run_in_threadpool(get_run, session, run_id=run_id)
    if not (settings.run_dir(run_id) / name).is_file():
        raise NotFoundError(f"run {run_id} has no {name} yet", field="checkpoint")
    options = body.model_dump(exclude={"stream", "checkpoint", "prompt"})
    payload = {"checkpoint": name, "prompt": body.prompt, "options": options}
    request_id = samples.new_request_id()
    pubsub = async_client(request.app).pubsub()
    await pubsub.subscribe(sample_channel(request_id))
    followup = samples.request_sample(
        request_id=request_id, run_id=run_id, payload=payload, expires_s=settings.sample_timeout_s
    )
    try:
        await run_in_threadpool(followup.send)
    except BaseException:
        await pubsub.aclose()
        raise
    messages = _messages(request, pubsub, settings.sample_timeout_s)
    if body.stream:
        return StreamingResponse(
            _sse(messages, pubsub, body.prompt, name),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    try:
        pieces: list[str] = []
        iter_num = None
        async for data in messages:
            if data["type"] == "start":
                iter_num = data.get("iter")
            elif data["type"] == "token":
                pieces.append(data["text"])
            elif data["type"] == "error":
                raise _error(data)
        completion = "".join(pieces)
        return SampleOut(
            text=body.prompt + completion, completion=completion, checkpoint=name, iter=iter_num
        )
    finally:
        await pubsub.aclose()


async def _sse(messages: AsyncIterator[dict], pubsub: Any, prompt: str, name: str):
    pieces: list[str] = []
    try:
        async for data in messages:
            kind = data["type"]
            data = {k: v for k, v in data.items() if k != "type"}
            if kind == "token":
                pieces.append(data["text"])
            elif kind == "done":
                data = {"text": prompt + "".join(pieces), "completion": "".join(pieces)}
            elif kind == "start":
                data["checkpoint"] = name
            yield format_event(kind, data)
    except UnavailableError as exc:
        yield format_event("error", {"code": exc.code, "message": exc.message, "field": None})
    except asyncio.CancelledError:
        raise
    finally:
        await pubsub.aclose()
