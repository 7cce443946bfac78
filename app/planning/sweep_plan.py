"""A sweep: its search space checked before anything is stored, and each trial started as an
ordinary run (its knobs over the sweep's base config, through the same checks as any run)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from app.planning.run_config import SERVICE_FIELDS, as_problem, build_config, config_problems
from app.planning.run_plan import plan_new, require_ready, start_run
from app.store.datasets import get_dataset
from app.store.db import Session
from app.store.errors import Problem, ProblemsError
from app.store.followup import Followup
from app.store.models import Run, Sweep
from app.store.sweeps import NewSweep
from worker.engine.config.budget import parse_budget
from worker.engine.config.train_config import TrainConfig
from worker.engine.errors import ConfigError, EngineError

# what a search may not vary: the service's fields, its tags, and where the weights come from
FIXED_KNOBS = (*SERVICE_FIELDS, "tags", "init_from", "device", "compile")
NUMERIC = ("int", "float")


def knob_types() -> dict[str, str]:
    return {f.name: str(f.type) for f in fields(TrainConfig) if f.name not in FIXED_KNOBS}


def plan_sweep(
    session: Session,
    *,
    dataset_id: int,
    tokenizer: str,
    val_fraction: float,
    preset: str | None,
    config: Mapping[str, Any],
    space: Mapping[str, Any],
    trials: int,
    parallel: int,
    budget: object,
    name: str | None,
) -> NewSweep:
    """The sweep as the store keeps it; every problem with the space at once, as a 422 naming
    `space.<knob>`."""
    dataset = get_dataset(session, dataset_id=dataset_id)
    require_ready(dataset)
    problems = config_problems(build_config(preset=preset, config=config), None)
    problems.extend(space_problems(space))
    budget_s = None
    if budget is not None:
        try:
            budget_s = parse_budget(budget)
        except ConfigError as exc:
            problems.append(as_problem(exc))
    if problems:
        raise ProblemsError(problems)
    return NewSweep(
        name=name or f"{dataset.name} · sweep of {', '.join(space)}",
        dataset_id=dataset.id,
        tokenizer=tokenizer,
        val_fraction=val_fraction,
        preset=preset,
        config=dict(config),
        space={k: dict(v) for k, v in space.items()},
        budget_s=budget_s,
        trials=trials,
        parallel=min(parallel, trials),
    )


def space_problems(space: Mapping[str, Any]) -> list[Problem]:
    if not space:
        return [Problem("invalid", "space must name at least one knob to search", "space")]
    types = knob_types()
    out: list[Problem] = []
    for knob, spec in space.items():
        where = f"space.{knob}"
        if knob not in types:
            out.append(Problem("invalid", f"{knob!r} is not a knob a sweep can search", where))
            continue
        out.extend(_spec_problems(knob, spec, types[knob], where))
    return out


def _spec_problems(knob: str, spec: Any, kind: str, where: str) -> list[Problem]:
    def bad(message: str) -> list[Problem]:
        return [Problem("invalid", f"{knob}: {message}", where)]

    if not isinstance(spec, dict) or not ({"choices"} == set(spec) or {"low", "high"} <= set(spec)):
        return bad('give {"choices": [...]} or {"low": ..., "high": ..., "log": false}')
    if "choices" in spec:
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            return bad("choices must be a non-empty list")
        values = choices
    else:
        if set(spec) - {"low", "high", "log"}:
            return bad("a range takes low, high and log only")
        if kind not in NUMERIC:
            return bad("only a number knob takes a range; give choices")
        low, high, log = spec["low"], spec["high"], spec.get("log", False)
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high))
        if not numbers or not all(math.isfinite(v) for v in (low, high)):
            return bad("low and high must be finite numbers")
        if not low < high:
            return bad("low must be below high")
        if not isinstance(log, bool) or (log and low <= 0):
            return bad("log must be true or false, and a log range must start above 0")
        values = [low, high]
    for value in values:
        try:
            TrainConfig.from_mapping({knob: value})
        except EngineError as exc:
            return bad(exc.message)
    return []


def start_trial(
    session: Session, *, sweep: Sweep, number: int, params: Mapping[str, Any]
) -> tuple[Run, Followup]:
    """Trial `number` of `sweep`: an ordinary run of its knobs over the base config."""
    if sweep.dataset_id is None:
        raise ProblemsError([Problem("conflict", "the sweep's dataset was deleted", "dataset_id")])
    plan = plan_new(
        session,
        dataset_id=sweep.dataset_id,
        tokenizer=sweep.tokenizer,
        val_fraction=sweep.val_fraction,
        preset=sweep.preset,
        config={**sweep.config, **params},
        name=f"{sweep.name} · trial {number}",
        budget=sweep.budget_s,
    )
    return start_run(session, plan=plan)
