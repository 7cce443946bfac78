"""Runs: create (validated before anything is queued; `?dry_run=true` validates only), list,
get, cancel, resume, clone, delete. Each change is a store transition (`app.store.runs`);
its followup (wake-ups, state events) is sent once the transaction has committed."""

from __future__ import annotations

import shutil
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from fastapi.responses import JSONResponse

from app.api.deps import Session, SessionDep, SettingsDep
from app.api.params import DatasetFilter, Offset, RunId
from app.api.schemas.common import ERROR_RESPONSES
from app.api.schemas.datasets import chosen_tokenizer
from app.api.schemas.run_plans import RunPlanOut, present_plan
from app.api.schemas.runs import (
    PresetOut,
    RunClone,
    RunCreate,
    RunList,
    RunOut,
    RunResume,
    State,
    present_created,
    present_presets,
    present_run,
)
from app.planning import run_plan
from app.planning.routing import queue_for
from app.planning.run_config import RunPlan
from app.planning.run_plan import plan_clone, plan_new, refuse_warnings, start_run
from app.planning.waiting import queue_waits_for, waiting_reasons
from app.store import run_queries, runs
from app.store.followup import Followup
from app.store.models import Run
from app.store.settings import Settings
from worker.engine.config.warnings import ConfigWarning

router = APIRouter(prefix="/runs", tags=["runs"], responses=ERROR_RESPONSES)
presets_router = APIRouter(prefix="/presets", tags=["runs"])

DryRun = Annotated[
    bool,
    Query(description="Check everything a real request checks; store and queue nothing"),
]
DRY_RUN_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"model": RunPlanOut, "description": "With dry_run=true: the run it would start"}
}


def _one(session: Session, settings: Settings, run: Run) -> RunOut:
    return present_run(
        run,
        run_queries.queue_positions(session, [run]),
        run_queries.best_val_bpcs(session, [run]),
        waiting_reasons(settings, [run]),
    )


def _created(
    session: Session, settings: Settings, run: Run, warnings: list[ConfigWarning]
) -> RunOut:
    """201: the run with its plan's warnings, and no_worker when no live worker could take
    it now."""
    return present_created(
        run,
        run_queries.queue_positions(session, [run]),
        run_queries.best_val_bpcs(session, [run]),
        queue_waits_for(settings, run.queue),
        warnings,
    )


def _commit(session: Session, followup: Followup) -> None:
    session.commit()
    followup.send()


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=RunOut, responses=DRY_RUN_RESPONSE
)
def create_run(
    body: RunCreate, session: SessionDep, settings: SettingsDep, dry_run: DryRun = False
) -> RunOut | JSONResponse:
    """Preset + config are checked by the engine's preflight and the memory guard before the
    run is stored and queued: 422 with every problem in `errors`, each naming its field. A run
    the checks warn about starts, its `warnings` in the answer (`strict: true` refuses it).
    A dataset not yet prepared with the tokenizer is prepared first (state `preparing`). With
    `dry_run=true`, the same checks and the same errors, then 200 with the run it would start
    (and its warnings); nothing is stored or queued. A run no live worker could take now is
    created all the same (201, warned `no_worker`): it waits until such a worker joins."""
    plan = plan_new(
        session,
        dataset_id=body.dataset_id,
        tokenizer=chosen_tokenizer(body.tokenizer, body.vocab_size),
        val_fraction=body.val_fraction,
        preset=body.preset,
        config=body.config,
        name=body.name,
        gpus=body.gpus,
        processes=body.processes,
        budget=body.budget,
    )
    if dry_run:
        return _dry_run(plan, settings)
    refuse_warnings(plan, strict=body.strict)
    run, followup = start_run(session, plan=plan)
    _commit(session, followup)
    return _created(session, settings, run, plan.warnings)


def _dry_run(plan: RunPlan, settings: Settings) -> JSONResponse:
    """200 (not the route's 201): nothing was created."""
    waiting_for = queue_waits_for(settings, queue_for(plan.devices))
    return JSONResponse(present_plan(plan, waiting_for).model_dump(mode="json"))


@router.get("")
def list_runs(
    session: SessionDep,
    settings: SettingsDep,
    state: State | None = None,
    dataset_id: DatasetFilter = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> RunList:
    """Newest first."""
    items, total = run_queries.list_runs(
        session, state=state, dataset_id=dataset_id, limit=limit, offset=offset
    )
    positions = run_queries.queue_positions(session, items)
    bpcs = run_queries.best_val_bpcs(session, items)
    waiting = waiting_reasons(settings, items)
    return RunList(
        items=[present_run(r, positions, bpcs, waiting) for r in items],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/{run_id}")
def get_run(run_id: RunId, session: SessionDep, settings: SettingsDep) -> RunOut:
    return _one(session, settings, run_queries.get_run(session, run_id=run_id))


@router.post("/{run_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
def cancel_run(run_id: RunId, session: SessionDep, settings: SettingsDep) -> RunOut:
    """A waiting run is cancelled at once; a running one stops within a second or so,
    after writing a checkpoint (watch `state`)."""
    run, followup = runs.cancel_run(session, run_id=run_id)
    _commit(session, followup)
    return _one(session, settings, run)


@router.post("/{run_id}/resume", status_code=status.HTTP_202_ACCEPTED)
def resume_run(
    run_id: RunId, session: SessionDep, settings: SettingsDep, body: RunResume | None = None
) -> RunOut:
    """Continue a finished run from its latest checkpoint, on the same curve."""
    body = body or RunResume()
    run, followup = run_plan.resume(
        session,
        run_id=run_id,
        max_iters=body.max_iters,
        gpus=body.gpus,
        processes=body.processes,
    )
    _commit(session, followup)
    return _one(session, settings, run)


@router.post(
    "/{run_id}/clone",
    status_code=status.HTTP_201_CREATED,
    response_model=RunOut,
    responses=DRY_RUN_RESPONSE,
)
def clone_run(
    run_id: RunId,
    session: SessionDep,
    settings: SettingsDep,
    body: RunClone | None = None,
    dry_run: DryRun = False,
) -> RunOut | JSONResponse:
    """A new run with this run's config and the given overrides, from scratch
    (`dry_run=true`: checked only, as for `POST /runs`)."""
    body = body or RunClone()
    source = run_queries.get_run(session, run_id=run_id)
    plan = plan_clone(
        session,
        source=source,
        name=body.name,
        dataset_id=body.dataset_id,
        tokenizer=chosen_tokenizer(body.tokenizer, body.vocab_size, current=source.tokenizer),
        val_fraction=body.val_fraction,
        overrides=body.config,
        gpus=body.gpus,
        processes=body.processes,
    )
    if dry_run:
        return _dry_run(plan, settings)
    refuse_warnings(plan, strict=body.strict)
    run, followup = start_run(session, plan=plan)
    _commit(session, followup)
    return _created(session, settings, run, plan.warnings)


@router.delete("/{run_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_run(run_id: RunId, session: SessionDep, settings: SettingsDep) -> None:
    """Deletes the run, its history and its files; refused (409) while it is active."""
    runs.delete_run(session, run_id=run_id)
    session.commit()
    shutil.rmtree(settings.run_dir(run_id), ignore_errors=True)


@presets_router.get("")
def list_presets() -> list[PresetOut]:
    """The named starting points and the full config each gives."""
    return present_presets()
