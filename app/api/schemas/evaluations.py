"""An evaluation's request and its shape in the API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas.common import MAX_ID, StrictBody
from app.api.schemas.exports import CheckpointChoice, Reason
from app.store.models import Evaluation

EvaluationState = Literal["queued", "running", "ready", "failed"]
MAX_TEXT_CHARS = 1_000_000  # the body is at most 1 MiB anyway (app.api.limits)


class EvaluationIn(StrictBody):
    # exactly one of the two sources, as the schema says it (and Schemathesis checks)
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["dataset_id"], "properties": {"dataset_id": {"type": "integer"}}},
                {
                    "required": ["text"],
                    "properties": {"text": {"type": "string", "pattern": "\\S"}},
                },
            ]
        }
    )

    dataset_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="Evaluate on this ready dataset's text"
    )
    text: str | None = Field(
        default=None,
        max_length=MAX_TEXT_CHARS,
        description="Or on this text, pasted (exactly one of dataset_id and text)",
    )
    checkpoint: CheckpointChoice = Field(
        default="latest", description="latest (ckpt.pt) or best (best.pt, the best val loss)"
    )


class EvaluationOut(BaseModel):
    id: int
    run_id: int
    dataset_id: int | None = Field(description="The dataset evaluated on (None: pasted text)")
    dataset_name: str | None
    checkpoint: CheckpointChoice
    state: EvaluationState
    progress: float = Field(description="0 to 1 while it runs")
    failure_reason: Reason | None
    failure_message: str | None
    iter: int | None = Field(description="The scored checkpoint's iteration, once ready")
    loss: float | None = Field(description="Mean cross-entropy, nats per token predicted")
    perplexity: float | None = Field(description="exp(loss)")
    bits_per_char: float | None = Field(
        description="Total loss in bits over the text's characters: comparable across tokenizers"
    )
    tokens: int | None = Field(description="Tokens predicted")
    characters: int | None = Field(description="Characters of the text")
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def present_evaluation(evaluation: Evaluation) -> EvaluationOut:
    return EvaluationOut(
        id=evaluation.id,
        run_id=evaluation.run_id,
        dataset_id=evaluation.dataset_id,
        dataset_name=evaluation.dataset_name,
        checkpoint=evaluation.checkpoint,  # type: ignore[arg-type]
        state=evaluation.state,  # type: ignore[arg-type]
        progress=evaluation.progress,
        failure_reason=evaluation.failure_reason,  # type: ignore[arg-type]
        failure_message=evaluation.failure_message,
        iter=evaluation.iter,
        loss=evaluation.loss,
        perplexity=evaluation.perplexity,
        bits_per_char=evaluation.bits_per_char,
        tokens=evaluation.tokens,
        characters=evaluation.characters,
        attempts=evaluation.attempts,
        created_at=evaluation.created_at,
        started_at=evaluation.started_at,
        finished_at=evaluation.finished_at,
    )
