"""Sweeps: create (the space checked before anything is stored), list, get, cancel. The
trials are ordinary runs, started and pruned by the sweeper (`worker/jobs/sweeper.py`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from app.api.deps import Session, SessionDep
from app.api.schemas.common import ERROR_RESPONSES, MAX_ID
from app.api.schemas.datasets import chosen_tokenizer
from app.api.schemas.sweeps import SweepCreate, SweepOut, present_sweep
from app.planning.sweep_plan import plan_sweep
from app.store import sweeps
from app.store.models import Sweep

router = APIRouter(prefix="/sweeps", tags=["sweeps"], responses=ERROR_RESPONSES)
SweepId = Annotated[int, Path(ge=1, le=MAX_ID, description="A sweep's id")]


def _one(session: Session, sweep: Sweep) -> SweepOut:
    trials = sweeps.trials_of(session, sweep_id=sweep.id)
    return present_sweep(sweep, trials, sweeps.trial_runs(session, trials))


@router.post("", status_code=status.HTTP_201_CREATED)
def create_sweep(body: SweepCreate, session: SessionDep) -> SweepOut:
    """The space, the base config and the budget are checked (422 naming the field, e.g.
    `space.learning_rate`); the sweeper starts the first trials within a reaper pass."""
    new = plan_sweep(
        session,
        dataset_id=body.dataset_id,
        tokenizer=chosen_tokenizer(body.tokenizer, body.vocab_size),
        val_fraction=body.val_fraction,
        preset=body.preset,
        config=body.config,
        space=body.space,
        trials=body.trials,
        parallel=body.parallel,
        budget=body.budget,
        name=body.name,
    )
    sweep = sweeps.insert_sweep(session, new=new)
    session.commit()
    return _one(session, sweep)


@router.get("")
def list_sweeps(session: SessionDep) -> list[SweepOut]:
    return [_one(session, s) for s in sweeps.list_sweeps(session)]


@router.get("/{sweep_id}")
def get_sweep(sweep_id: SweepId, session: SessionDep) -> SweepOut:
    return _one(session, sweeps.get_sweep(session, sweep_id=sweep_id))


@router.post("/{sweep_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
def cancel_sweep(sweep_id: SweepId, session: SessionDep) -> SweepOut:
    """No more trials; the waiting and running ones are cancelled (409 once it has ended)."""
    sweep, followup = sweeps.cancel_sweep(session, sweep_id=sweep_id)
    session.commit()
    followup.send()
    return _one(session, sweep)
