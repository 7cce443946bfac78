from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas.common import StrictBody

MAX_SEED = 2**63 - 1


class SampleIn(StrictBody):
    prompt: str = Field(default="\n", max_length=100_000)
    max_new_tokens: int = Field(default=500, ge=1, le=10_000)
    temperature: float = Field(
        default=0.8, ge=0.0, le=100.0, description="0 (or below 1e-4) is greedy"
    )
    top_k: int | None = Field(default=200, ge=1, le=1_000_000)
    top_p: float | None = Field(default=None, ge=1e-6, le=1.0)
    checkpoint: Literal["latest", "best", "ckpt.pt", "best.pt"] = Field(
        default="latest", description="latest (ckpt.pt) or best (best.pt)"
    )
    seed: int | None = Field(
        default=None,
        ge=0,
        le=MAX_SEED,
        description="Fixes the random draws; left out, a new random seed is picked (and "
        "answered, so the sample can be made again)",
    )
    stop_at_eot: bool = Field(
        default=False,
        description="Stop at the end of a document (the model's end-of-text token, not shown); "
        "off, the text goes on past it and the boundary reads <|endoftext|>",
    )
    stream: bool = Field(default=False, description="SSE `token` events instead of JSON")


class SampleRecordOut(BaseModel):
    """A finished sample as kept in the run's history."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    run_id: int
    checkpoint: str = Field(description="ckpt.pt or best.pt")
    iter: int | None = Field(description="The checkpoint's iteration when it was sampled")
    prompt: str
    completion: str
    max_new_tokens: int
    temperature: float
    top_k: int | None
    top_p: float | None
    seed: int
    stop_at_eot: bool
    created_at: datetime


class SampleOut(BaseModel):
    text: str = Field(description="The prompt followed by the generated text")
    completion: str = Field(description="The generated text alone")
    checkpoint: str
    iter: int | None
    seed: int = Field(description="The seed used: send it back to make the same text again")
    sample: SampleRecordOut | None = Field(
        description="The sample as kept in the run's history (null if the run was deleted)"
    )


class SampleList(BaseModel):
    items: list[SampleRecordOut] = Field(description="Newest first")
    next_before: int | None = Field(
        description="Pass as ?before= for older samples; null when there are none"
    )
