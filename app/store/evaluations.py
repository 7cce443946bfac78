"""An evaluation (a run's checkpoint scored on a text of the user's: loss, perplexity, bits
per character) and its state machine; every change of its state or lease is a function here.

    queued ──▶ running ──▶ ready
      ▲           │
      └── retry ──┴──▶ failed      (a refusal of the engine, or lost workers)

Just like an export (app.store.exports): the job runs on the prepare queue under the one
lease (`app.store.lease`), heartbeating with its progress. The text is a ready dataset's
corpus, read by the job from the dataset's folder, or text pasted with the request, kept in
the row. The rows go with their run (ON DELETE CASCADE); a deleted dataset leaves them, with
its name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.store import lease
from app.store.datasets import get_dataset
from app.store.db import get_db
from app.store.errors import ConflictError, InvalidError, NotFoundError
from app.store.exports import CHECKPOINT_FILES, require_checkpoint
from app.store.followup import Followup
from app.store.lease import Held, Lease
from app.store.models import Evaluation, utcnow
from app.store.queues import EVALUATE
from app.store.run_queries import get_run
from app.store.settings import Settings
from app.store.states import DatasetState, EvaluationState, FailureReason

# --- reads ---


def list_evaluations(session: Session, *, run_id: int) -> list[Evaluation]:
    """A run's evaluations, newest first (404 for an unknown run)."""
    get_run(session, run_id=run_id)
    query = select(Evaluation).where(Evaluation.run_id == run_id).order_by(Evaluation.id.desc())
    return list(session.scalars(query))


def get_evaluation(session: Session, *, run_id: int, evaluation_id: int) -> Evaluation:
    get_run(session, run_id=run_id)
    evaluation = session.get(Evaluation, evaluation_id)
    if evaluation is None or evaluation.run_id != run_id:
        raise NotFoundError(
            f"run {run_id} has no evaluation {evaluation_id}", field="evaluation_id"
        )
    return evaluation


def ready_on_datasets(session: Session, *, run_ids: list[int]) -> dict[int, dict[int, Evaluation]]:
    """dataset id -> run id -> that run's newest ready evaluation on the dataset, for the
    runs' evaluations on datasets (pasted text compares with nothing)."""
    query = (
        select(Evaluation)
        .where(
            Evaluation.run_id.in_(run_ids),
            Evaluation.dataset_id.is_not(None),
            Evaluation.state == EvaluationState.READY,
        )
        .order_by(Evaluation.id)
    )
    out: dict[int, dict[int, Evaluation]] = {}
    for evaluation in session.scalars(query):
        assert evaluation.dataset_id is not None
        out.setdefault(evaluation.dataset_id, {})[evaluation.run_id] = evaluation  # newest wins
    return out


@dataclass(frozen=True)
class EvaluationJob:
    """What the evaluation job needs to know: the checkpoint, and the text or its dataset."""

    run_id: int
    checkpoint: str  # latest | best
    dataset_id: int | None
    text: str | None

    @property
    def checkpoint_file(self) -> str:
        return CHECKPOINT_FILES[self.checkpoint]


def load_job(evaluation_id: int) -> EvaluationJob:
    with get_db().session() as session:
        evaluation = session.get(Evaluation, evaluation_id)
        assert evaluation is not None, f"evaluation {evaluation_id} vanished while claimed"
        return EvaluationJob(
            evaluation.run_id, evaluation.checkpoint, evaluation.dataset_id, evaluation.text
        )


# --- the API's transition: the caller commits, then sends the followup ---


def request_evaluation(
    session: Session,
    settings: Settings,
    *,
    run_id: int,
    checkpoint: str,
    dataset_id: int | None,
    text: str | None,
) -> tuple[Evaluation, Followup]:
    """A new evaluation of the run's `latest` or `best` checkpoint on a ready dataset or on
    pasted text (exactly one), queued; 409 when that checkpoint is not written yet."""
    assert checkpoint in CHECKPOINT_FILES, checkpoint
    if (dataset_id is None) == (text is None):
        raise InvalidError(
            "give either dataset_id (a dataset's text) or text (pasted), not both or neither",
            field="dataset_id",
        )
    if text is not None and not text.strip():
        raise InvalidError("the text to evaluate on is empty", field="text")
    if text is not None and "\0" in text:
        raise InvalidError(
            "pasted text may not hold NUL characters; to evaluate on several documents, "
            "upload them as a dataset and give its dataset_id",
            field="text",
        )
    run = get_run(session, run_id=run_id)
    dataset_name = None
    if dataset_id is not None:
        dataset = get_dataset(session, dataset_id=dataset_id)
        if dataset.state != DatasetState.READY:
            why = (
                "is still being inspected"
                if dataset.state == DatasetState.INSPECTING
                else (f"is not usable: {dataset.error}")
            )
            raise ConflictError(
                f"dataset {dataset_id} {why}; evaluate on it once it is ready",
                field="dataset_id",
                code="dataset_not_ready",
            )
        dataset_name = dataset.name
    require_checkpoint(settings, run, checkpoint)
    evaluation = Evaluation(
        run_id=run_id,
        dataset_id=dataset_id,
        dataset_name=dataset_name,
        text=text,
        checkpoint=checkpoint,
        state=EvaluationState.QUEUED,
        progress=0.0,
        attempts=0,
    )
    session.add(evaluation)
    session.flush()
    followup = Followup()
    followup.enqueue(EVALUATE, evaluation.id)
    return evaluation, followup


# --- the evaluation job's side: the lease with an evaluation's own writes ---


EVALUATIONS = Lease(
    name="evaluations",
    model=Evaluation,
    queued=EvaluationState.QUEUED,
    running=EvaluationState.RUNNING,
    wake=EVALUATE,
    failed=lease.failed_with_reason(EvaluationState.FAILED),
    queued_since=(Evaluation.heartbeat_at, Evaluation.created_at),
    requeued=lambda now: {"progress": 0.0},
)


def claim(evaluation_id: int, owner: str) -> Held:
    """queued → running, held by `owner`; not held when it is not queued (a duplicate, or
    gone)."""
    return lease.claim(EVALUATIONS, evaluation_id, owner, values={"started_at": utcnow()})


def heartbeat(evaluation_id: int, owner: str, fraction: float) -> Held:
    """Progress and heartbeat; not held when the lease is gone (reaped, or the run deleted)."""
    return lease.heartbeat(EVALUATIONS, evaluation_id, owner, values={"progress": fraction})


def finish(evaluation_id: int, owner: str, *, iter_num: int, score: dict[str, Any]) -> Held:
    """running → ready with the figures (loss, perplexity, bits_per_char, tokens,
    characters); not held when the lease was gone."""
    values = {
        "state": EvaluationState.READY,
        "progress": 1.0,
        "iter": iter_num,
        "finished_at": utcnow(),
        **score,
    }
    return lease.finish(EVALUATIONS, evaluation_id, owner, values=values)


def fail(evaluation_id: int, owner: str, reason: FailureReason, message: str) -> Held:
    return lease.fail(EVALUATIONS, evaluation_id, owner, reason, message)
