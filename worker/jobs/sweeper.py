"""The sweeper: one pass over every running sweep, run by the reaper's loop. The database is
the truth; Optuna is asked and told from it afresh at every pass (its TPE sampler for the
next trial's knobs, its percentile pruner for a running trial's evaluations), so a sweep lives
through a restart of the service and several passes at once do no harm (trial numbers are
unique per sweep).

A pass over one sweep: trials whose runs ended are scored (their best val bits per
character); a running trial behind the best completed one at the same evaluation is
pruned (its run stops and ends `pruned`, checkpoint kept); new trials are started while
fewer than `parallel` run and fewer than `trials` were started; with every trial started and
ended, the sweep ends."""

from __future__ import annotations

import logging
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial
from optuna.trial import TrialState as OptunaState

from app.planning.run_config import build_config
from app.planning.sweep_plan import knob_types, start_trial
from app.store import runs, sweeps
from app.store.db import get_db
from app.store.errors import StudioError
from app.store.followup import Followup
from app.store.models import Run, Sweep, SweepTrial
from app.store.states import RunState, SweepState, TrialState

log = logging.getLogger(__name__)
optuna.logging.set_verbosity(optuna.logging.WARNING)

# TPE samples at random until this many trials are scored (Optuna's default is 10, more than
# a small sweep has)
STARTUP_TRIALS = 3
# the pruner compares a trial only once this many trials have completed
PRUNER_STARTUP = 1
# A running trial goes on only while, at each evaluation, its best so far is as good as the
# best completed trial's at that step (the 0th percentile). On the bench, TPE's
# trials mostly improve on each other, so a laxer rule finishes nearly every one: the median
# and the best tenth both stopped one trial of eight (0.52-0.60x a grid's CPU time); this
# stops three (0.48x) and finds the same learning rate (docs/benchmarks.md).
PRUNE_PERCENTILE = 0.0
_OPTUNA_STATES = {
    TrialState.COMPLETE: OptunaState.COMPLETE,
    TrialState.PRUNED: OptunaState.PRUNED,
    TrialState.FAILED: OptunaState.FAIL,
}


def drive_sweeps() -> int:
    """One pass over every running sweep; how many it drove."""
    with get_db().session() as session:
        ids = sweeps.running_sweep_ids(session)
    for sweep_id in ids:
        try:
            drive(sweep_id)
        except Exception:  # one sweep's trouble must not stop the others
            log.exception("sweep %s: pass failed", sweep_id)
    return len(ids)


def drive(sweep_id: int) -> None:
    followup = Followup()
    with get_db().session() as session:
        sweep = sweeps.get_sweep(session, sweep_id=sweep_id)
        if sweep.state != SweepState.RUNNING:
            return
        trials = sweeps.trials_of(session, sweep_id=sweep_id)
        by_run = sweeps.trial_runs(session, trials)
        for trial in trials:
            _score_if_ended(session, trial, by_run.get(trial.run_id or -1))
        session.flush()
        trials = sweeps.trials_of(session, sweep_id=sweep_id)
        distributions = _distributions(sweep)
        study = _study(session, sweep, trials, distributions)
        for trial in trials:
            run = by_run.get(trial.run_id or -1)
            if trial.state == TrialState.RUNNING and run is not None:
                followup = followup.extend(_prune_if_behind(session, study, trial, run))
        running = sum(t.state == TrialState.RUNNING for t in trials)
        started = len(trials)
        while running < sweep.parallel and started < sweep.trials:
            params = _ask(sweep, study, distributions, started)
            try:
                run, queued = start_trial(session, sweep=sweep, number=started, params=params)
            except StudioError as exc:  # the base config and the space were checked; data gone
                sweeps.end_sweep(
                    session, sweep_id=sweep.id, state=SweepState.FAILED, message=exc.message
                )
                break
            sweeps.add_trial(
                session, sweep_id=sweep.id, number=started, run_id=run.id, params=params
            )
            followup = followup.extend(queued)
            running, started = running + 1, started + 1
        if started >= sweep.trials and running == 0:
            scored = any(t.value is not None for t in trials)
            state = SweepState.SUCCEEDED if scored else SweepState.FAILED
            message = None if scored else "no trial was scored: every one failed"
            sweeps.end_sweep(session, sweep_id=sweep.id, state=state, message=message)
        session.commit()
    followup.send()


def _score_if_ended(session: Any, trial: SweepTrial, run: Run | None) -> None:
    if trial.state != TrialState.RUNNING:
        return
    state = sweeps.trial_state(run)
    if state == TrialState.RUNNING:
        return
    value = sweeps.best_value(session, run_id=run.id) if run is not None else None
    if state == TrialState.COMPLETE and value is None:
        state = TrialState.FAILED  # never evaluated: nothing to compare
    sweeps.end_trial(session, trial_id=trial.id, state=state, value=value)


def _distributions(sweep: Sweep) -> dict[str, BaseDistribution]:
    types = knob_types()
    out: dict[str, BaseDistribution] = {}
    for knob, spec in sweep.space.items():
        if "choices" in spec:
            out[knob] = CategoricalDistribution(spec["choices"])
        elif types[knob] == "int":
            out[knob] = IntDistribution(
                int(spec["low"]), int(spec["high"]), log=spec.get("log", False)
            )
        else:
            out[knob] = FloatDistribution(spec["low"], spec["high"], log=spec.get("log", False))
    return out


def _study(
    session: Any,
    sweep: Sweep,
    trials: list[SweepTrial],
    distributions: dict[str, BaseDistribution],
) -> optuna.Study:
    """An in-memory study told every ended trial: its knobs, its evaluations and its end."""
    study = optuna.create_study(
        direction="minimize",
        pruner=trial_pruner(),
    )
    for trial in trials:
        if trial.state == TrialState.RUNNING:
            continue
        steps = sweeps.evaluations(session, run_id=trial.run_id) if trial.run_id else {}
        study.add_trial(
            optuna.trial.create_trial(
                params=trial.params,
                distributions=distributions,
                state=_OPTUNA_STATES[TrialState(trial.state)],
                value=trial.value if trial.state == TrialState.COMPLETE else None,
                intermediate_values=steps,
            )
        )
    return study


def trial_pruner() -> optuna.pruners.BasePruner:
    """The pruner a sweep's trials answer to (bench/budget.py measures the same one)."""
    return optuna.pruners.PercentilePruner(
        PRUNE_PERCENTILE, n_startup_trials=PRUNER_STARTUP, n_warmup_steps=1
    )


def _prune_if_behind(session: Any, study: optuna.Study, trial: SweepTrial, run: Run) -> Followup:
    if run.state != RunState.RUNNING or run.prune_requested:
        return Followup()
    steps = sweeps.evaluations(session, run_id=run.id)
    if not steps:
        return Followup()
    frozen = FrozenTrial(
        number=trial.number,
        state=OptunaState.RUNNING,
        value=None,
        datetime_start=trial.created_at,
        datetime_complete=None,
        params={},
        distributions={},
        user_attrs={},
        system_attrs={},
        intermediate_values=steps,
        trial_id=10**9 + trial.number,
    )
    if not study.pruner.prune(study, frozen):
        return Followup()
    log.info("sweep %s: pruning trial %s (run %s)", trial.sweep_id, trial.number, run.id)
    return runs.prune_run(session, run_id=run.id)


def _ask(
    sweep: Sweep, study: optuna.Study, distributions: dict[str, BaseDistribution], number: int
) -> dict[str, Any]:
    """Trial `number`'s knobs. The first is the base config's own values where they lie in
    the space (a baseline to beat); then TPE, seeded from the base seed and the trial's
    number, so a pass after a restart asks as one before it would."""
    if number == 0:
        base = _baseline(sweep, distributions)
        if base is not None:
            return base
    seed = int(sweep.config.get("seed", 1337)) + number
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=STARTUP_TRIALS)
    study.sampler = sampler
    asked = study.ask(distributions)
    params = dict(asked.params)
    study.tell(asked, state=OptunaState.FAIL)  # not this study's to run: the run is the truth
    return params


def _baseline(sweep: Sweep, distributions: dict[str, BaseDistribution]) -> dict[str, Any] | None:
    cfg = build_config(preset=sweep.preset, config=sweep.config).to_dict()
    base = {knob: cfg[knob] for knob in distributions}
    return base if all(_within(distributions[k], v) for k, v in base.items()) else None


def _within(distribution: BaseDistribution, value: Any) -> bool:
    if isinstance(distribution, CategoricalDistribution):
        return value in distribution.choices
    assert isinstance(distribution, FloatDistribution | IntDistribution)
    return distribution.low <= value <= distribution.high
