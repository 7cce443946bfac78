"""Evaluations: a run's checkpoint scored on a text of the user's (a dataset or pasted text),
by a job on the prepare queue: loss, perplexity and bits per character."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from app.api.deps import SessionDep, SettingsDep
from app.api.params import MAX_ID, RunId
from app.api.schemas.common import ERROR_RESPONSES
from app.api.schemas.evaluations import EvaluationIn, EvaluationOut, present_evaluation
from app.store import evaluations

router = APIRouter(
    prefix="/runs/{run_id}/evaluations", tags=["evaluations"], responses=ERROR_RESPONSES
)

EvaluationId = Annotated[int, Path(ge=1, le=MAX_ID, description="An evaluation's id")]


@router.post("", status_code=status.HTTP_202_ACCEPTED)
def create_evaluation(
    run_id: RunId, body: EvaluationIn, session: SessionDep, settings: SettingsDep
) -> EvaluationOut:
    """Queue an evaluation of the run's `latest` or `best` checkpoint on a ready dataset
    (`dataset_id`) or on pasted `text`. 409 `no_checkpoint` when that checkpoint is not
    written yet, 409 `dataset_not_ready` for a dataset still inspected or unusable. Watch
    `state` (queued → running → ready | failed) and `progress`."""
    evaluation, followup = evaluations.request_evaluation(
        session,
        settings,
        run_id=run_id,
        checkpoint=body.checkpoint,
        dataset_id=body.dataset_id,
        text=body.text,
    )
    session.commit()
    followup.send()
    return present_evaluation(evaluation)


@router.get("")
def list_evaluations(run_id: RunId, session: SessionDep) -> list[EvaluationOut]:
    """Newest first."""
    return [present_evaluation(e) for e in evaluations.list_evaluations(session, run_id=run_id)]


@router.get("/{evaluation_id}")
def get_evaluation(
    run_id: RunId, evaluation_id: EvaluationId, session: SessionDep
) -> EvaluationOut:
    evaluation = evaluations.get_evaluation(session, run_id=run_id, evaluation_id=evaluation_id)
    return present_evaluation(evaluation)
