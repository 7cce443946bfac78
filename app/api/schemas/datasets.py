from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas.common import StrictBody

Tokenizer = Literal["char", "gpt2"]


class PreparationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    tokenizer: str
    val_fraction: float
    state: Literal["queued", "running", "ready", "failed"]
    progress: float = Field(description="0..1")
    train_tokens: int | None
    val_tokens: int | None
    vocab_size: int | None
    error: str | None


class DatasetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    state: Literal["inspecting", "ready", "failed"] = Field(
        description="A large upload is described by a job: the figures below are null until ready"
    )
    progress: float = Field(description="0..1 while inspecting")
    error: str | None
    bytes: int
    characters: int | None
    lines: int | None
    sha256: str | None
    created_at: datetime
    preview: str | None = Field(description="The first 1000 characters of the text")
    vocab: list[str] | None = Field(description="Distinct characters, sorted by code point")
    gpt2_tokens: int | None = Field(description="Length in GPT-2 BPE tokens")
    preparations: list[PreparationOut]


class DatasetList(BaseModel):
    items: list[DatasetOut]
    total: int


class PrepareIn(StrictBody):
    tokenizer: Tokenizer
    val_fraction: float = Field(default=0.1, gt=0.0, lt=1.0)
