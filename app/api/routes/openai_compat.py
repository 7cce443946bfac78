"""OpenAI's completions API at /v1, so the `openai` client (its api_key is our token) and the
tools built on it can use a trained model. A model is a run's checkpoint: `run-12` (its
latest), `run-12@latest` or `run-12@best`. Completions run on the sample workers and their
warm model cache (`worker.jobs.tasks.complete`), so training goes on; the n choices of a
prompt, and the requests of every client waiting for the same model, are generated together,
one batch per step (the X-Studio-Batch-Requests header says how many requests shared it).
Errors are in OpenAI's shape here (`app.api.error_handlers.error_response_at`)."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from app.api.deps import SettingsDep
from app.api.error_handlers import openai_error_response
from app.api.params import MAX_ID
from app.api.routes.samples import RANDOM_SEEDS, SampleFailedError, messages_of
from app.api.schemas.openai_compat import (
    OPENAI_ERROR_RESPONSES,
    ChoiceOut,
    CompletionIn,
    CompletionOut,
    LogprobsOut,
    ModelList,
    ModelOut,
    Usage,
)
from app.store import completions
from app.store.broker import async_client, sample_channel
from app.store.db import get_db
from app.store.errors import InvalidError, NotFoundError, StudioError, UnavailableError
from app.store.run_queries import run_names
from app.store.samples import new_request_id
from app.store.settings import Settings

router = APIRouter(tags=["openai"], responses=OPENAI_ERROR_RESPONSES)

# The checkpoint each model suffix names; no suffix is the latest.
CHECKPOINT_OF_SUFFIX = {"latest": "ckpt.pt", "best": "best.pt"}
_MODEL_ID = re.compile(r"run-([1-9][0-9]{0,18})(?:@(latest|best))?")
_NAMED_MODELS = 20  # a bad model's error names this many of those there are
BATCH_HEADER = "X-Studio-Batch-Requests"


class ModelNotFoundError(NotFoundError):
    code = "model_not_found"


@dataclass(frozen=True)
class Model:
    run_id: int
    checkpoint: str  # ckpt.pt or best.pt


@router.get("/models")
async def list_models(settings: SettingsDep) -> ModelList:
    """Every run with a checkpoint, newest first: `run-12` and `run-12@latest` (ckpt.pt),
    `run-12@best` (best.pt) where each file is there."""
    return ModelList(data=await run_in_threadpool(_models, settings))


def _models(settings: Settings) -> list[ModelOut]:
    with get_db().session() as session:
        runs = run_names(session)
    models: list[ModelOut] = []
    for run_id, name, created_at in runs:
        created = int(created_at.timestamp())
        folder = settings.run_dir(run_id)
        if (folder / "ckpt.pt").is_file():
            models.append(ModelOut(id=f"run-{run_id}", created=created, name=name))
            models.append(ModelOut(id=f"run-{run_id}@latest", created=created, name=name))
        if (folder / "best.pt").is_file():
            models.append(ModelOut(id=f"run-{run_id}@best", created=created, name=name))
    return models


async def _resolve(model: str, settings: Settings) -> Model:
    """The run and checkpoint a model id names; 404 naming the models there are."""
    match = _MODEL_ID.fullmatch(model)
    if match is not None and int(match[1]) <= MAX_ID:
        resolved = Model(int(match[1]), CHECKPOINT_OF_SUFFIX[match[2] or "latest"])
        if (settings.run_dir(resolved.run_id) / resolved.checkpoint).is_file():
            return resolved
    there = [m.id for m in await run_in_threadpool(_models, settings)]
    named = ", ".join(there[:_NAMED_MODELS]) or "none yet (a run has a model once it has "
    named += " and more (GET /v1/models)" if len(there) > _NAMED_MODELS else ""
    if not there:
        named += "written its first checkpoint)"
    raise ModelNotFoundError(
        f"the model {model!r} does not exist; the models are: {named}", field="model"
    )


@router.post(
    "/completions",
    responses={200: {"content": {"text/event-stream": {}}, "model": CompletionOut}},
)
async def create_completion(request: Request, body: CompletionIn, settings: SettingsDep) -> Any:
    """OpenAI's completions: `prompt` (a string or a list), `max_tokens`, `temperature`,
    `top_p`, `n`, `stop`, `seed`, `logprobs` (top-k, k ≤ 5), `echo`, and `stream` (chunks as
    server-sent events, ending `data: [DONE]`; `stream_options.include_usage` adds the usage
    in a last chunk). Choice p·n + i is prompt p's i-th; it draws with seed + i, so a request
    with a seed is made again exactly."""
    model = await _resolve(body.model, settings)
    n = body.n or 1
    stops = body.stops()
    options = {
        "max_tokens": 16 if body.max_tokens is None else body.max_tokens,
        "temperature": 1.0 if body.temperature is None else body.temperature,
        "top_p": body.top_p,
        "n": n,
        "seed": body.seed if body.seed is not None else secrets.randbelow(RANDOM_SEEDS),
        "stop": stops,
        "logprobs": body.logprobs,
        "echo": bool(body.echo),
    }
    payload = {"checkpoint": model.checkpoint, "prompts": body.prompts(), "options": options}
    request_id = new_request_id()
    pubsub = async_client(request.app).pubsub()
    await pubsub.subscribe(sample_channel(request_id))
    answer = _Answer(
        id=f"cmpl-{request_id}",
        created=int(time.time()),
        model=body.model,
        n=n * len(body.prompts()),
    )
    try:
        await run_in_threadpool(
            partial(
                completions.request_completion,
                settings,
                request_id=request_id,
                run_id=model.run_id,
                payload=payload,
                expires_s=settings.sample_timeout_s,
            )
        )
        messages = messages_of(request, pubsub, settings.sample_timeout_s)
        # Wait for the worker's start: a prompt it refuses is a 4xx, streamed or not.
        async for data in messages:
            if data["type"] == "error":
                raise _error(data)
            if data["type"] == "start":
                answer.prompt_tokens = data["prompt_tokens"]
                answer.together = data["together"]
                break
        else:
            raise UnavailableError("the client went away", code="no_worker")
    except BaseException:
        await pubsub.aclose()
        raise
    if body.stream:
        usage = body.stream_options is not None and body.stream_options.include_usage
        return StreamingResponse(
            _chunks(messages, pubsub, answer, usage),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **answer.headers()},
        )
    try:
        async for data in messages:
            if data["type"] == "piece":
                answer.add(data)
            elif data["type"] == "error":
                raise _error(data)
        return JSONResponse(answer.whole().model_dump(mode="json"), headers=answer.headers())
    finally:
        await pubsub.aclose()


def _error(data: dict[str, Any]) -> StudioError:
    if data.get("code") in ("config", "data"):
        # the worker names the engine's field; here the request's parameter is the prompt
        field = "model" if data.get("field") in ("ckpt", "model") else "prompt"
        return InvalidError(data["message"], field=field, code=data["code"])
    return SampleFailedError(data.get("message", "the completion failed"))


@dataclass
class _Answer:
    """The response being put together from the worker's pieces."""

    id: str
    created: int
    model: str
    n: int  # choices in all
    prompt_tokens: int = 0
    completion_tokens: int = 0
    together: int = 1  # requests generated in one batch with this one
    texts: dict[int, list[str]] = field(default_factory=dict)
    logprobs: dict[int, LogprobsOut] = field(default_factory=dict)
    finish: dict[int, str] = field(default_factory=dict)

    def add(self, data: dict[str, Any]) -> None:
        index = data["index"]
        self.texts.setdefault(index, []).append(data["text"])
        self.completion_tokens += data["completion_tokens"]
        if data["finish_reason"] is not None:
            self.finish[index] = data["finish_reason"]
        piece = data["logprobs"]
        if piece is not None:
            kept = self.logprobs.setdefault(
                index, LogprobsOut(tokens=[], token_logprobs=[], top_logprobs=[], text_offset=[])
            )
            kept.tokens += piece["tokens"]
            kept.token_logprobs += piece["token_logprobs"]
            kept.top_logprobs += piece["top_logprobs"]
            kept.text_offset += piece["text_offset"]

    def headers(self) -> dict[str, str]:
        """How many requests (this one included) shared its batch's forward passes."""
        return {BATCH_HEADER: str(self.together)}

    def usage(self) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            total_tokens=self.prompt_tokens + self.completion_tokens,
        )

    def whole(self) -> CompletionOut:
        choices = [
            ChoiceOut(
                text="".join(self.texts.get(i, [])),
                index=i,
                logprobs=self.logprobs.get(i),
                finish_reason=self.finish.get(i),  # type: ignore[arg-type]
            )
            for i in range(self.n)
        ]
        return CompletionOut(
            id=self.id, created=self.created, model=self.model, choices=choices, usage=self.usage()
        )

    def chunk(self, choices: list[dict[str, Any]], usage: Usage | None = None) -> str:
        body = {
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if usage is not None:
            body["usage"] = usage.model_dump()
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


async def _chunks(
    messages: AsyncIterator[dict], pubsub: Any, answer: _Answer, include_usage: bool
) -> AsyncIterator[str]:
    """OpenAI's stream: a chunk per piece, then `data: [DONE]` (an error: its own chunk)."""
    try:
        async for data in messages:
            if data["type"] == "piece":
                answer.completion_tokens += data["completion_tokens"]
                choice = {k: data[k] for k in ("text", "index", "logprobs", "finish_reason")}
                yield answer.chunk([choice])
            elif data["type"] == "error":
                yield _error_chunk(_error(data))
                return
        if include_usage:
            yield answer.chunk([], answer.usage())
        yield "data: [DONE]\n\n"
    except UnavailableError as exc:
        yield _error_chunk(exc)
    finally:
        await pubsub.aclose()


def _error_chunk(error: StudioError) -> str:
    return f"data: {openai_error_response(error).body.decode()}\n\n"
