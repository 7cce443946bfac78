"""A sweep's request and its answer (docs/api.md, Sweeps)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.api.schemas.common import RowId, StrictBody
from app.api.schemas.datasets import TOKENIZER_NAME, VOCAB_SIZE, Tokenizer
from app.api.schemas.runs import BUDGET_DOC
from app.planning.knob_effects import ScoredTrial, knob_effects
from app.store.models import Run, Sweep, SweepTrial

SweepStateName = Literal["running", "succeeded", "failed", "cancelled"]
TrialStateName = Literal["running", "complete", "pruned", "failed"]


class SweepCreate(StrictBody):
    dataset_id: RowId
    tokenizer: Tokenizer = "char"
    vocab_size: int | None = VOCAB_SIZE
    val_fraction: float = Field(default=0.1, gt=0.0, lt=1.0)
    preset: str | None = Field(default=None, description="The base config's preset")
    config: dict[str, Any] = Field(
        default_factory=dict, description="The base config: TrainConfig fields over the preset"
    )
    space: dict[str, Any] = Field(
        description='Per knob: {"choices": [...]} or {"low": ..., "high": ..., "log": false} '
        "(number knobs); at least one"
    )
    trials: int = Field(default=8, ge=1, le=200, description="Trials in all")
    parallel: int = Field(default=1, ge=1, le=64, description="Trials running at a time")
    budget: Any = Field(
        default=None,
        description="Each trial's time budget; without it each runs the config's max_iters. "
        + BUDGET_DOC,
        json_schema_extra={"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "null"}]},
    )
    name: str | None = Field(default=None, max_length=200)


class TrialOut(BaseModel):
    number: int
    run_id: int | None
    run_state: str | None = Field(description="The trial's run's state (pruned: stopped by it)")
    params: dict[str, Any] = Field(description="The knobs it tried, over the base config")
    state: TrialStateName
    val_bpc: float | None = Field(description="Its best val bits per character")


class EffectPoint(BaseModel):
    value: float
    val_bpc: float
    complete: bool = Field(description="Ran to the end (false: pruned, not counted)")


class ChoiceEffect(BaseModel):
    value: Any
    trials: int
    best: float
    mean: float


class KnobEffect(BaseModel):
    """What one knob did to val bits per character, over the trials that ran to the end."""

    knob: str
    kind: Literal["number", "choices"]
    correlation: float | None = Field(
        default=None,
        description="number knobs: Spearman's rank correlation of the knob with val bpc "
        "(-1: higher is better; null under 3 complete trials)",
    )
    points: list[EffectPoint] = Field(default_factory=list, description="number knobs")
    choices: list[ChoiceEffect] = Field(
        default_factory=list, description="choice knobs: each one tried, best first"
    )


class SweepOut(BaseModel):
    id: int
    name: str
    dataset_id: int | None
    tokenizer: str = Field(description=TOKENIZER_NAME)
    val_fraction: float
    preset: str | None
    config: dict[str, Any]
    space: dict[str, Any]
    budget_s: float | None
    trials_total: int = Field(description="Trials asked for (the request's trials)")
    parallel: int
    state: SweepStateName
    failure_message: str | None
    trials: list[TrialOut] = Field(description="The trials started so far, by number")
    best: TrialOut | None = Field(description="The best scored trial so far")
    effects: list[KnobEffect] = Field(description="Each knob's effect on val bpc so far")
    created_at: datetime
    finished_at: datetime | None


def present_trial(trial: SweepTrial, run: Run | None) -> TrialOut:
    return TrialOut(
        number=trial.number,
        run_id=trial.run_id,
        run_state=run.state if run is not None else None,
        params=trial.params,
        state=trial.state,  # type: ignore[arg-type]
        val_bpc=trial.value,
    )


def present_sweep(sweep: Sweep, trials: list[SweepTrial], runs: dict[int, Run]) -> SweepOut:
    shown = [present_trial(t, runs.get(t.run_id or -1)) for t in trials]
    scored = [t for t in shown if t.val_bpc is not None and t.state == "complete"]
    return SweepOut(
        id=sweep.id,
        name=sweep.name,
        dataset_id=sweep.dataset_id,
        tokenizer=sweep.tokenizer,
        val_fraction=sweep.val_fraction,
        preset=sweep.preset,
        config=sweep.config,
        space=sweep.space,
        budget_s=sweep.budget_s,
        trials_total=sweep.trials,
        parallel=sweep.parallel,
        state=sweep.state,  # type: ignore[arg-type]
        failure_message=sweep.failure_message,
        trials=shown,
        best=min(scored, key=lambda t: t.val_bpc or 0.0, default=None),
        effects=[
            KnobEffect.model_validate(e)
            for e in knob_effects(
                sweep.space,
                (ScoredTrial(t.params, t.val_bpc, t.state == "complete") for t in shown),
            )
        ],
        created_at=sweep.created_at,
        finished_at=sweep.finished_at,
    )
