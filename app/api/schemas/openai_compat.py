"""The shapes of OpenAI's completions API (/v1), as far as the studio serves it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from app.api.schemas.common import StrictBody

MAX_PROMPTS = 16  # prompts in one request (a list)
MAX_CHOICES = 16  # n
MAX_STOPS = 4  # OpenAI's limit
MAX_SEED = 2**63 - 1

MAX_PROMPT_CHARS = 100_000
MAX_STOP_CHARS = 256


class StreamOptions(StrictBody):
    include_usage: bool = Field(
        default=False, description="A last chunk with no choices and the request's usage"
    )


class CompletionIn(StrictBody):
    model: str = Field(
        max_length=200,
        description="run-12 (its latest checkpoint), "
        "run-12@latest or run-12@best: see GET /v1/models",
    )
    prompt: str | list[str] = Field(
        default="",
        description="A string, or a list of them (each gets n choices); empty starts a document",
    )
    max_tokens: int | None = Field(default=16, ge=0, le=10_000)
    temperature: float | None = Field(default=1.0, ge=0.0, le=2.0, description="0 is greedy")
    top_p: float | None = Field(default=1.0, gt=0.0, le=1.0)
    n: int | None = Field(default=1, ge=1, le=MAX_CHOICES)
    stop: str | list[str] | None = Field(
        default=None, description=f"Up to {MAX_STOPS} strings; the text ends before the first"
    )
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    logprobs: int | None = Field(default=None, ge=0, le=5, description="Top-k alternatives")
    echo: bool | None = False
    user: str | None = Field(default=None, max_length=256, description="Accepted, not used")

    @field_validator("prompt")
    @classmethod
    def _prompts_fit(cls, prompt: str | list[str]) -> str | list[str]:
        prompts = [prompt] if isinstance(prompt, str) else prompt
        if not 1 <= len(prompts) <= MAX_PROMPTS:
            raise ValueError(f"give 1 to {MAX_PROMPTS} prompts")
        if any(len(p) > MAX_PROMPT_CHARS for p in prompts):
            raise ValueError(f"a prompt may have at most {MAX_PROMPT_CHARS:,} characters")
        return prompt

    @field_validator("stop")
    @classmethod
    def _stops_fit(cls, stop: str | list[str] | None) -> str | list[str] | None:
        stops = [] if stop is None else [stop] if isinstance(stop, str) else stop
        if len(stops) > MAX_STOPS:
            raise ValueError(f"at most {MAX_STOPS} stop strings")
        if any(not 1 <= len(s) <= MAX_STOP_CHARS for s in stops):
            raise ValueError(f"a stop string has 1 to {MAX_STOP_CHARS} characters")
        return stop

    def prompts(self) -> list[str]:
        return [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)

    def stops(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


class ModelOut(BaseModel):
    id: str = Field(description="run-12, run-12@latest or run-12@best")
    object: Literal["model"] = "model"
    created: int = Field(description="When the run was created (Unix seconds)")
    owned_by: str = "nanogpt-studio"
    name: str = Field(description="The run's name")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]


class LogprobsOut(BaseModel):
    tokens: list[str]
    token_logprobs: list[float | None]
    top_logprobs: list[dict[str, float] | None]
    text_offset: list[int]


class ChoiceOut(BaseModel):
    text: str
    index: int
    logprobs: LogprobsOut | None = None
    finish_reason: Literal["stop", "length"] | None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class CompletionOut(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    system_fingerprint: str | None = None
    choices: list[ChoiceOut]
    usage: Usage | None = None


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str = Field(description="invalid_request_error, authentication_error, …")
    param: str | None = None
    code: str | None = None


class OpenAIErrorBody(BaseModel):
    error: OpenAIErrorDetail


OPENAI_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": OpenAIErrorBody, "description": description}
    for status, description in (
        (400, "The body cannot be read: not UTF-8"),
        (401, "Missing or wrong token"),
        (404, "No such model"),
        (413, "The body is over its limit (1 MiB)"),
        (422, "Invalid request, naming the parameter"),
        (503, "No sample worker answered"),
    )
}
