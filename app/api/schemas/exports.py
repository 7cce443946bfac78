"""An export's request and its shape in the API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.api.schemas.common import StrictBody
from app.store.exports import download_name
from app.store.models import Export
from worker.engine.checkpoints.export_formats import Format

CheckpointChoice = Literal["latest", "best"]
ExportState = Literal["queued", "running", "ready", "failed"]
Reason = Literal["config", "data", "disk_full", "worker_lost", "internal"]


class ExportIn(StrictBody):
    format: Format = Field(
        description="hf: Hugging Face (config.json, model.safetensors, tokenizer files; GPT-2 "
        "for gpt2-arch models, our own modeling code for modern-arch ones); safetensors: one "
        "file, nanoGPT's tensor names; nanogpt: nanoGPT's out_dir (ckpt.pt, plus meta.pkl for "
        "character-level models); gguf, gguf-f16, gguf-q8_0: one model.gguf for llama.cpp "
        "(gpt2-arch models) in f32, f16 or 8-bit"
    )
    checkpoint: CheckpointChoice = Field(
        default="latest", description="latest (ckpt.pt) or best (best.pt, the best val loss)"
    )


class ExportOut(BaseModel):
    id: int
    run_id: int
    format: Format
    checkpoint: CheckpointChoice
    state: ExportState
    failure_reason: Reason | None
    failure_message: str | None
    iter: int | None = Field(description="The exported checkpoint's iteration, once ready")
    size_bytes: int | None = Field(description="The archive's size, once ready")
    attempts: int
    file: str | None = Field(description="Where to download the .zip, once ready")
    file_name: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def present_export(export: Export, api_prefix: str = "/api/v1") -> ExportOut:
    ready = export.state == "ready"
    url = f"{api_prefix}/runs/{export.run_id}/exports/{export.id}/file"
    return ExportOut(
        id=export.id,
        run_id=export.run_id,
        format=export.format,  # type: ignore[arg-type]
        checkpoint=export.checkpoint,  # type: ignore[arg-type]
        state=export.state,  # type: ignore[arg-type]
        failure_reason=export.failure_reason,  # type: ignore[arg-type]
        failure_message=export.failure_message,
        iter=export.iter,
        size_bytes=export.size_bytes,
        attempts=export.attempts,
        file=url if ready else None,
        file_name=download_name(export),
        created_at=export.created_at,
        started_at=export.started_at,
        finished_at=export.finished_at,
    )
