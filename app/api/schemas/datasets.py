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
    bytes: int
    characters: int
    lines: int
    sha256: str
    created_at: datetime
    preview: str = Field(description="The first characters of the text")
    vocab: list[str] = Field(description="Distinct characters, sorted")
    gpt2_tokens: int | None = Field(description="Length in GPT-2 BPE tokens")
    preparations: list[PreparationOut]


class DatasetList(BaseModel):
    items: list[DatasetOut]
    total: int


class PrepareIn(StrictBody):
    tokenizer: Tokenizer
    val_fraction: float = Field(default=0.1, gt=0.0, lt=1.0)
