from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas.common import StrictBody
from worker.engine.tokenizer_names import (
    BPE_VOCAB_DEFAULT,
    BPE_VOCAB_MAX,
    BPE_VOCAB_MIN,
    parse_tokenizer_name,
    tokenizer_name,
)

Tokenizer = Literal["char", "gpt2", "bpe"]
TOKENIZER_NAME = "The tokenizer's name: char, gpt2, or bpe-<vocab_size> (say bpe-2048)"
VOCAB_SIZE = Field(
    default=None,
    ge=BPE_VOCAB_MIN,
    le=BPE_VOCAB_MAX,
    description=f"bpe only: the size of the BPE trained on the training split, "
    f"{BPE_VOCAB_MIN}..{BPE_VOCAB_MAX} (default {BPE_VOCAB_DEFAULT}); refused for char and gpt2",
)


def chosen_tokenizer(
    kind: str | None, vocab_size: int | None, *, current: str | None = None
) -> str:
    """The tokenizer name a request asks for; `current` (a clone's source) fills what it
    leaves out. 422 (field `vocab_size`) for a vocab_size with char or gpt2."""
    if current is not None:
        current_kind, current_vocab = parse_tokenizer_name(current)
        if kind is None and vocab_size is None:
            return current
        if kind is None or (kind == current_kind and vocab_size is None):
            kind, vocab_size = current_kind, vocab_size or current_vocab
    assert kind is not None, "a new run or preparation names its tokenizer"
    return tokenizer_name(kind, vocab_size)


class PreparationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    tokenizer: str = Field(description=TOKENIZER_NAME)
    val_fraction: float
    state: Literal["queued", "running", "ready", "failed"]
    progress: float = Field(description="0..1")
    train_tokens: int | None
    val_tokens: int | None
    vocab_size: int | None = Field(description="The prepared vocabulary, once ready")
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
    vocab_size: int | None = VOCAB_SIZE
    val_fraction: float = Field(default=0.1, gt=0.0, lt=1.0)
