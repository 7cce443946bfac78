"""Samples: the `sample` queue's worker generates from a checkpoint; pieces of text come back
over the request's pub/sub channel, as SSE `token` events or gathered into JSON. A finished
sample is kept in the run's history (`GET …/samples`) with its seed, so it can be made again."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from app.api.deps import SessionDep, SettingsDep
from app.api.params import MAX_ID, RunId
from app.api.schemas.common import ERROR_RESPONSES
from app.api.schemas.samples import SampleIn, SampleList, SampleOut, SampleRecordOut
from app.api.sse import format_event
from app.store import samples
from app.store.broker import async_client, sample_channel
from app.store.db import get_db
from app.store.errors import InvalidError, NotFoundError, StudioError, UnavailableError
from app.store.run_queries import get_run
from app.store.sample_history import SampleRecord, list_samples, save_sample

router = APIRouter(prefix="/runs/{run_id}", tags=["samples"], responses=ERROR_RESPONSES)

CHECKPOINT_ALIASES = {
    "latest": "ckpt.pt",
    "best": "best.pt",
    "ckpt.pt": "ckpt.pt",
    "best.pt": "best.pt",
}


# A seed picked for a request that fixed none: below 2**32, so it is short to read and copy.
RANDOM_SEEDS = 2**32


class SampleFailedError(StudioError):
    status = 500
    code = "internal"


def _error(data: dict[str, Any]) -> StudioError:
    if data.get("code") in ("config", "data"):
        return InvalidError(data["message"], field=data.get("field"), code=data["code"])
    return SampleFailedError(data.get("message", "sampling failed"), field=data.get("field"))


async def messages_of(request: Request, pubsub: Any, timeout_s: float) -> AsyncIterator[dict]:
    """Messages of one sample (or completion) until `done` or `error`; 503 if the worker
    stays silent."""
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
    request: Request, run_id: RunId, body: SampleIn, settings: SettingsDep
) -> Any:
    """Generate from the run's `latest` (ckpt.pt) or `best` (best.pt) checkpoint, even while
    it trains. Without a `seed` a random one is picked; the seed used is answered. `stream:
    true` answers with SSE: `start` {iter, checkpoint, seed}, `token` {text}…, then `done`
    {text, completion, seed, sample} or `error` {code, message, field}. A finished sample is
    kept in the run's history (`sample`)."""
    name = CHECKPOINT_ALIASES[body.checkpoint]  # every value the schema takes has one
    # A read session of its own, closed at once: the request's session would be a writer's
    # (a POST), and on SQLite hold the write lock for as long as the text streams, stalling
    # the training reporter, and the insert of the finished sample itself.
    config = await run_in_threadpool(_run_config, run_id)
    if not (settings.run_dir(run_id) / name).is_file():
        raise NotFoundError(_no_checkpoint_yet(run_id, name, config), field="checkpoint")
    seed = body.seed if body.seed is not None else secrets.randbelow(RANDOM_SEEDS)
    options = {**body.model_dump(exclude={"stream", "checkpoint", "prompt"}), "seed": seed}
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
    messages = messages_of(request, pubsub, settings.sample_timeout_s)
    keep = _Keeper(run_id=run_id, checkpoint=name, prompt=body.prompt, options=options)
    if body.stream:
        return StreamingResponse(
            _sse(messages, pubsub, keep),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    try:
        pieces: list[str] = []
        async for data in messages:
            if data["type"] == "start":
                keep.iter = data.get("iter")
            elif data["type"] == "token":
                pieces.append(data["text"])
            elif data["type"] == "error":
                raise _error(data)
        completion = "".join(pieces)
        kept = await keep.save(completion)
        return SampleOut(
            text=body.prompt + completion,
            completion=completion,
            checkpoint=name,
            iter=keep.iter,
            seed=seed,
            sample=kept,
        )
    finally:
        await pubsub.aclose()


@router.get("/samples")
def get_samples(
    run_id: RunId,
    session: SessionDep,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Samples older than this id")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> SampleList:
    """The run's kept samples, newest first: prompt, options, seed, checkpoint and text."""
    rows, more = list_samples(session, run_id=run_id, before_id=before, limit=limit)
    items = [SampleRecordOut.model_validate(r) for r in rows]
    return SampleList(items=items, next_before=items[-1].id if more else None)


def _run_config(run_id: int) -> dict[str, Any]:
    with get_db().session() as session:
        return dict(get_run(session, run_id=run_id).config)


def _no_checkpoint_yet(run_id: int, name: str, config: dict[str, Any]) -> str:
    """Which file is missing, and when the first checkpoint comes."""
    first = first_checkpoint_iter(config)
    when = f"; the first is written at iteration {first:,}" if first else ""
    return f"run {run_id} has no {name} yet{when}"


def first_checkpoint_iter(config: dict[str, Any]) -> int | None:
    """The first evaluation after the start writes the first checkpoint (one at iteration 0
    would hold nothing learned); a shorter run writes it at its end."""
    interval, max_iters = config.get("eval_interval"), config.get("max_iters")
    if not isinstance(interval, int) or not isinstance(max_iters, int):
        return None
    return min(interval, max_iters)


@dataclass
class _Keeper:
    """What a sample is made from, until it is finished and stored."""

    run_id: int
    checkpoint: str  # the file: ckpt.pt or best.pt
    prompt: str
    options: dict[str, Any]  # SampleOptions' fields, the seed used included
    iter: int | None = None  # the checkpoint's, told by the worker's `start`

    async def save(self, completion: str) -> SampleRecordOut | None:
        record = SampleRecord(
            run_id=self.run_id,
            checkpoint=self.checkpoint,
            iter=self.iter,
            prompt=self.prompt,
            completion=completion,
            max_new_tokens=self.options["max_new_tokens"],
            temperature=self.options["temperature"],
            top_k=self.options["top_k"],
            top_p=self.options["top_p"],
            seed=self.options["seed"],
            stop_at_eot=self.options["stop_at_eot"],
        )
        row = await run_in_threadpool(save_sample, record)
        return None if row is None else SampleRecordOut.model_validate(row)


async def _sse(messages: AsyncIterator[dict], pubsub: Any, keep: _Keeper):
    pieces: list[str] = []
    try:
        async for data in messages:
            kind = data["type"]
            data = {k: v for k, v in data.items() if k != "type"}
            if kind == "token":
                pieces.append(data["text"])
            elif kind == "done":
                completion = "".join(pieces)
                kept = await keep.save(completion)
                data = {
                    "text": keep.prompt + completion,
                    "completion": completion,
                    "seed": keep.options["seed"],
                    "sample": kept.model_dump(mode="json") if kept else None,
                }
            elif kind == "start":
                keep.iter = data.get("iter")
                data.update(checkpoint=keep.checkpoint, seed=keep.options["seed"])
            yield format_event(kind, data)
    except UnavailableError as exc:
        yield format_event("error", {"code": exc.code, "message": exc.message, "field": None})
    except asyncio.CancelledError:
        raise
    finally:
        await pubsub.aclose()
