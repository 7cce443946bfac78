from __future__ import annotations

from pydantic import BaseModel, Field

from app.api.schemas.common import StrictBody


class SampleIn(StrictBody):
    prompt: str = Field(default="\n", max_length=100_000)
    max_new_tokens: int = Field(default=500, ge=1, le=10_000)
    temperature: float = Field(default=0.8, ge=0.0, le=100.0, description="0 is greedy")
    top_k: int | None = Field(default=200, ge=1, le=1_000_000)
    top_p: float | None = Field(default=None, ge=1e-6, le=1.0)
    checkpoint: str = Field(default="latest", description="latest, best, ckpt.pt or best.pt")
    seed: int = Field(default=1337, ge=0, le=2**63 - 1)
    stream: bool = Field(default=False, description="SSE `token` events instead of JSON")


class SampleOut(BaseModel):
    text: str = Field(description="The prompt followed by the generated text")
    completion: str = Field(description="The generated text alone")
    checkpoint: str
    iter: int | None
