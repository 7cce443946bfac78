from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from app.api.schemas.common import GivenName, StrictBody
from worker.engine.tokenizers.names import (
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
    split: Literal["documents", "tail"] | None = Field(
        description="How val was held out, once ready: whole documents spread over the corpus "
        "(when it has enough of them), or the end of the text"
    )
    error: str | None


END_OF_TEXT = "<|endoftext|>"  # how a document boundary reads in text (GPT-2's marker)
BadRecords = Literal["error", "skip"]
TEXT_FIELD = Field(
    default=None,
    min_length=1,
    max_length=200,
    description="JSON/JSONL/CSV/Parquet/Arrow: the field or column holding the text; left out, "
    "`text`, then `content`, then the only string field. When several fit, a 422 "
    "`text_field` lists them as `choices` with their first values.",
)
DEDUP = Field(default=False, description="Drop exact duplicate documents (always counted)")
ON_BAD_RECORD = Field(
    default="error",
    description="A record that cannot be read (a JSONL line that is not JSON, a row without "
    "the text): `error` refuses the corpus naming the file and line, `skip` counts and lists it",
)


class ReadOptionsOut(BaseModel):
    text_field: str | None
    dedup: bool
    on_bad_record: BadRecords


class SkippedOut(BaseModel):
    entry: str = Field(description='What was left out: "a/b.png", "data.jsonl line 17"')
    reason: str


class SourceOut(BaseModel):
    name: str = Field(description="As sent: a file name, a folder upload's relative path, a path")
    format: str = Field(
        description="text, jsonl, json, csv, tsv, parquet, arrow; or a container: zip, tar, "
        "tar.gz, gz, bz2, xz, zst, tar.zst, …, directory"
    )
    bytes: int = Field(description="Its size as sent")
    documents: int = Field(description="Documents read from it")
    members: dict[str, int] = Field(description="A container's files read, by format")
    text_field: str | None = Field(description="The field or column the text came from")
    skipped: list[SkippedOut] = Field(description="The first 100 entries left out, with why")
    skipped_count: int


class DocLengthBucket(BaseModel):
    min: int = Field(description="Characters, inclusive")
    max: int = Field(description="Characters, inclusive")
    count: int


class DatasetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    state: Literal["inspecting", "ready", "failed"] = Field(
        description="A large corpus is read and described by a job: the figures below are "
        "null until ready"
    )
    progress: float = Field(description="0..1 while inspecting")
    error: str | None
    bytes: int = Field(description="The size of what was sent (a folder's, once read)")
    characters: int | None
    lines: int | None
    sha256: str | None = Field(description="Of the corpus file the preparations read")
    created_at: datetime
    documents: int | None = Field(description="Every file, record or row is one document")
    duplicates: int | None = Field(
        description="Exact repeats of an earlier document (dropped when options.dedup)"
    )
    options: ReadOptionsOut | None = Field(description="How the sources were read")
    sources: list[SourceOut] | None = Field(description="What the corpus was read from")
    doc_lengths: list[DocLengthBucket] | None = Field(
        description="Documents by length in characters, in power-of-two buckets"
    )
    preview_documents: list[str] | None = Field(
        description="The first documents as the tokenizers see them (never the JSON or CSV "
        "around them), 1,000 characters in all"
    )
    vocab: list[str] | None = Field(description="Distinct characters, sorted by code point")
    gpt2_tokens: int | None = Field(
        description="Length in GPT-2 BPE tokens, an end-of-text token after each document"
    )
    preparations: list[PreparationOut]

    @computed_field(description=f"preview_documents joined by the {END_OF_TEXT} marker")
    @property
    def preview(self) -> str | None:
        if self.preview_documents is None:
            return None
        return END_OF_TEXT.join(self.preview_documents)


class DatasetList(BaseModel):
    items: list[DatasetOut]
    total: int


class ImportIn(StrictBody):
    path: str = Field(
        min_length=1,
        max_length=4096,
        description="A file, archive or directory under STUDIO_IMPORT_DIRS (absolute, or "
        "relative to the first one); links and '..' are resolved before it is judged",
    )
    name: GivenName | None = Field(default=None, description="Default: its name")
    text_field: str | None = TEXT_FIELD
    dedup: bool = DEDUP
    on_bad_record: BadRecords = ON_BAD_RECORD


class PrepareIn(StrictBody):
    tokenizer: Tokenizer
    vocab_size: int | None = VOCAB_SIZE
    val_fraction: float = Field(default=0.1, gt=0.0, lt=1.0)
