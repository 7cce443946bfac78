"""Runs: create (validated before anything is queued; `?dry_run=true` validates only), list,
get, cancel, resume, clone, delete. Jobs are enqueued by task name after the transaction
commits."""

from __future__ import annotations

import shutil
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from app.api.deps import SessionDep, SettingsDep
from app.api.schemas.common import ERROR_RESPONSES
from app.api.schemas.runs import (
    DataFacts,
    PresetOut,
    RunClone,
    RunCreate,
    RunList,
    RunOut,
    RunPlanOut,
    RunResume,
    State,
)
from app.core import jobs
from app.core.models import Run
from app.crud import runs as crud
from app.crud.run_config import stored_config
from app.crud.run_plan import RunPlan, plan_clone, plan_new
from worker.engine.presets import PRESET_DESCRIPTIONS, preset_config

router = APIRouter(prefix="/runs", tags=["runs"], responses=ERROR_RESPONSES)
presets_router = APIRouter(prefix="/presets", tags=["runs"])

DryRun = Annotated[
    bool,
    Query(description="Check everything a real request checks; store and queue nothing"),
]
DRY_RUN_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"model": RunPlanOut, "description": "With dry_run=true: the run it would start"}
}


def run_out(run: Run, positions: dict[int, int]) -> RunOut:
    return RunOut.model_validate(
        {
            **{c: getattr(run, c) for c in RunOut.model_fields if hasattr(run, c)},
            "progress": min(1.0, run.iter / run.max_iters) if run.max_iters else 0.0,
            "queue_position": positions.get(run.id),
        }
    )


def _one(session: Session, run: Run) -> RunOut:
    return run_out(run, crud.queue_positions(session, [run]))


def _commit_and_enqueue(session: Session, followup: crud.Followup) -> None:
    session.commit()
    for prep_id in followup.prepare:
        jobs.enqueue_prepare(prep_id)
    for run_id in followup.train:
        jobs.enqueue_train(run_id)


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=RunOut, responses=DRY_RUN_RESPONSE
)
def create_run(
    body: RunCreate, session: SessionDep, dry_run: DryRun = False
) -> RunOut | JSONResponse:
    """Preset + config are checked by the engine's preflight (422 naming the field) before
    the run is stored and queued. A dataset not yet prepared with the tokenizer is prepared
    first (state `preparing`). With `dry_run=true`, the same checks and the same errors, then
    200 with the run it would start; nothing is stored or queued."""
    plan = plan_new(
        session,
        dataset_id=body.dataset_id,
        tokenizer=body.tokenizer,
        val_fraction=body.val_fraction,
        preset=body.preset,
        config=body.config,
        name=body.name,
    )
    if dry_run:
        return _plan_response(plan)
    run, followup = crud.insert_run(session, plan=plan)
    _commit_and_enqueue(session, followup)
    return _one(session, run)


def _plan_response(plan: RunPlan) -> JSONResponse:
    """200 (not the route's 201): nothing was created."""
    tokens = plan.cfg.tokens_per_iter
    train_tokens = plan.meta.get("train_tokens")
    out = RunPlanOut(
        name=plan.name,
        dataset_id=plan.dataset.id,
        tokenizer=plan.tokenizer,
        val_fraction=plan.val_fraction,
        preset=plan.preset,
        config=stored_config(plan.cfg),
        state="queued" if plan.prepared else "preparing",
        data=DataFacts(
            train_tokens=train_tokens,
            val_tokens=plan.meta.get("val_tokens"),
            vocab_size=plan.meta.get("vocab_size"),
            exact=plan.exact,
        ),
        tokens_per_iter=tokens,
        epochs=tokens * plan.cfg.max_iters / train_tokens if train_tokens else None,
    )
    return JSONResponse(out.model_dump(mode="json"))


@router.get("")
def list_runs(
    session: SessionDep,
    state: State | None = None,
    dataset_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> RunList:
    """Newest first."""
    items, total = crud.list_runs(
        session, state=state, dataset_id=dataset_id, limit=limit, offset=offset
    )
    positions = crud.queue_positions(session, items)
    return RunList(
        items=[run_out(r, positions) for r in items], total=total, limit=limit, offset=offset
    )


@router.get("/{run_id}")
def get_run(run_id: int, session: SessionDep) -> RunOut:
    return _one(session, crud.get_run(session, run_id=run_id))


@router.post("/{run_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
def cancel_run(run_id: int, session: SessionDep) -> RunOut:
    """A waiting run is cancelled at once; a running one stops within a second or so,
    after writing a checkpoint (watch `state`)."""
    run = crud.cancel_run(session, run_id=run_id)
    session.commit()
    return _one(session, run)


@router.post("/{run_id}/resume", status_code=status.HTTP_202_ACCEPTED)
def resume_run(run_id: int, session: SessionDep, body: RunResume | None = None) -> RunOut:
    """Continue a finished run from its latest checkpoint, on the same curve."""
    run, followup = crud.resume_run(
        session, run_id=run_id, max_iters=body.max_iters if body else None
    )
    _commit_and_enqueue(session, followup)
    return _one(session, run)


@router.post(
    "/{run_id}/clone",
    status_code=status.HTTP_201_CREATED,
    response_model=RunOut,
    responses=DRY_RUN_RESPONSE,
)
def clone_run(
    run_id: int, session: SessionDep, body: RunClone | None = None, dry_run: DryRun = False
) -> RunOut | JSONResponse:
    """A new run with this run's config and the given overrides, from scratch
    (`dry_run=true`: checked only, as for `POST /runs`)."""
    body = body or RunClone()
    plan = plan_clone(
        session,
        source=crud.get_run(session, run_id=run_id),
        name=body.name,
        dataset_id=body.dataset_id,
        tokenizer=body.tokenizer,
        val_fraction=body.val_fraction,
        overrides=body.config,
    )
    if dry_run:
        return _plan_response(plan)
    run, followup = crud.insert_run(session, plan=plan)
    _commit_and_enqueue(session, followup)
    return _one(session, run)


@router.delete("/{run_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_run(run_id: int, session: SessionDep, settings: SettingsDep) -> None:
    """Deletes the run, its history and its files; refused (409) while it is active."""
    crud.delete_run(session, run_id=run_id)
    session.commit()
    shutil.rmtree(settings.run_dir(run_id), ignore_errors=True)


@presets_router.get("")
def list_presets() -> list[PresetOut]:
    """The named starting points and the full config each gives."""
    out = []
    for name, description in PRESET_DESCRIPTIONS.items():
        config = preset_config(name).to_dict()
        for key in ("data_dir", "out_dir"):
            config.pop(key, None)
        out.append(PresetOut(name=name, description=description, config=config))
    return out
