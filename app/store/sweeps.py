"""A sweep's state machine and its trials: every change of a sweep's state, its cancel flag
or a trial's row is a function here.

    running ─▶ succeeded | failed      its last trial ended (failed: none was scored)
    running ─▶ cancelled               cancel (its waiting and running trials are cancelled)

The sweeper (`worker/jobs/sweeper.py`, a pass of the reaper) drives a running sweep from
what these rows and its runs hold, so a sweep survives a restart of the service: nothing
about it lives in memory between passes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.store import runs
from app.store.errors import ConflictError, NotFoundError
from app.store.followup import Followup
from app.store.models import Metric, Run, Sweep, SweepTrial, utcnow
from app.store.states import FINISHED_RUN_STATES, RunState, SweepState, TrialState


@dataclass(frozen=True)
class NewSweep:
    """A checked sweep (app.planning.sweep_plan), as the store keeps it."""

    name: str
    dataset_id: int
    tokenizer: str
    val_fraction: float
    preset: str | None
    config: dict[str, Any]
    space: dict[str, Any]
    budget_s: float | None
    trials: int
    parallel: int


def insert_sweep(session: Session, *, new: NewSweep) -> Sweep:
    sweep = Sweep(
        name=new.name,
        dataset_id=new.dataset_id,
        tokenizer=new.tokenizer,
        val_fraction=new.val_fraction,
        preset=new.preset,
        config=new.config,
        space=new.space,
        budget_s=new.budget_s,
        trials=new.trials,
        parallel=new.parallel,
        state=SweepState.RUNNING,
        cancel_requested=False,
    )
    session.add(sweep)
    session.flush()
    return sweep


def get_sweep(session: Session, *, sweep_id: int) -> Sweep:
    sweep = session.get(Sweep, sweep_id)
    if sweep is None:
        raise NotFoundError(f"no sweep {sweep_id}", field="sweep_id")
    return sweep


def list_sweeps(session: Session) -> list[Sweep]:
    return list(session.scalars(select(Sweep).order_by(Sweep.id.desc())))


def running_sweep_ids(session: Session) -> list[int]:
    query = select(Sweep.id).where(Sweep.state == SweepState.RUNNING).order_by(Sweep.id)
    return list(session.scalars(query))


def trials_of(session: Session, *, sweep_id: int) -> list[SweepTrial]:
    query = select(SweepTrial).where(SweepTrial.sweep_id == sweep_id)
    return list(session.scalars(query.order_by(SweepTrial.number)))


def trial_runs(session: Session, trials: list[SweepTrial]) -> dict[int, Run]:
    ids = [t.run_id for t in trials if t.run_id is not None]
    if not ids:
        return {}
    return {r.id: r for r in session.scalars(select(Run).where(Run.id.in_(ids)))}


def trials_of_runs(session: Session, *, run_ids: list[int]) -> dict[int, SweepTrial]:
    """The sweep trial each of these runs is (runs that are not trials are left out)."""
    if not run_ids:
        return {}
    query = select(SweepTrial).where(SweepTrial.run_id.in_(run_ids))
    return {int(t.run_id or 0): t for t in session.scalars(query)}


def evaluations(session: Session, *, run_id: int) -> dict[int, float]:
    """A run's evaluations so far: iteration -> val bits per character."""
    query = (
        select(Metric.iter, Metric.val_bpc)
        .where(Metric.run_id == run_id, Metric.val_bpc.is_not(None))
        .order_by(Metric.iter)
    )
    return {int(it): float(bpc) for it, bpc in session.execute(query)}


def best_value(session: Session, *, run_id: int) -> float | None:
    query = select(func.min(Metric.val_bpc)).where(Metric.run_id == run_id)
    value = session.scalar(query)
    return float(value) if value is not None else None


# --- the API's transitions: the caller commits, then sends the followup ---


def cancel_sweep(session: Session, *, sweep_id: int) -> tuple[Sweep, Followup]:
    """running → cancelled, and every trial still waiting or running is cancelled."""
    sweep = get_sweep(session, sweep_id=sweep_id)
    if sweep.state != SweepState.RUNNING:
        raise ConflictError(f"sweep {sweep_id} has already {sweep.state}", field="state")
    session.execute(
        update(Sweep)
        .where(Sweep.id == sweep_id, Sweep.state == SweepState.RUNNING)
        .values(state=SweepState.CANCELLED, cancel_requested=True, finished_at=utcnow())
    )
    followup = Followup()
    for trial in trials_of(session, sweep_id=sweep_id):
        if trial.run_id is None:
            continue
        run = session.get(Run, trial.run_id)
        if run is not None and run.state not in FINISHED_RUN_STATES:
            _, cancelled = runs.cancel_run(session, run_id=run.id)
            followup = followup.extend(cancelled)
    session.flush()
    session.refresh(sweep)
    return sweep, followup


# --- the sweeper's transitions: each in the sweeper's session, committed by it ---


def add_trial(
    session: Session, *, sweep_id: int, number: int, run_id: int, params: dict[str, Any]
) -> SweepTrial:
    trial = SweepTrial(
        sweep_id=sweep_id, number=number, run_id=run_id, params=params, state=TrialState.RUNNING
    )
    session.add(trial)
    session.flush()
    return trial


def end_trial(session: Session, *, trial_id: int, state: TrialState, value: float | None) -> None:
    session.execute(
        update(SweepTrial)
        .where(SweepTrial.id == trial_id, SweepTrial.state == TrialState.RUNNING)
        .values(state=state, value=value)
    )


def end_sweep(session: Session, *, sweep_id: int, state: SweepState, message: str | None) -> bool:
    """running → succeeded | failed; False when it had ended meanwhile (a cancel)."""
    return bool(
        session.execute(
            update(Sweep)
            .where(Sweep.id == sweep_id, Sweep.state == SweepState.RUNNING)
            .values(state=state, finished_at=utcnow(), failure_message=message)
        ).rowcount
    )


def trial_state(run: Run | None) -> TrialState:
    """A trial's state from its run's (a deleted run's trial failed)."""
    if run is None:
        return TrialState.FAILED
    return {
        RunState.SUCCEEDED: TrialState.COMPLETE,
        RunState.PRUNED: TrialState.PRUNED,
        RunState.FAILED: TrialState.FAILED,
        RunState.CANCELLED: TrialState.FAILED,
    }.get(RunState(run.state), TrialState.RUNNING)
