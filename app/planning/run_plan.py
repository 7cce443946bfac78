"""Starting a run: what a new run (or a clone) would be, checked, writing nothing (the
dataset ready, the config built from preset, types and service-owned fields, and put through
every preflight check with what is known of the data); then `start_run` stores it. A dry run
stops at the plan."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.planning.budget_run import plan_for_budget
from app.planning.routing import checked_devices, queue_for
from app.planning.run_config import (
    RunPlan,
    as_problem,
    build_config,
    check_config,
    stored_config,
    user_fields,
)
from app.planning.worker_devices import train_device
from app.store import runs
from app.store.datasets import get_dataset
from app.store.db import Session
from app.store.errors import ConflictError, Problem, ProblemsError
from app.store.followup import Followup
from app.store.models import Dataset, Run
from app.store.preparations import find_preparation, prepared_meta, request_preparation
from app.store.settings import get_settings
from app.store.states import DatasetState, PrepState
from worker.engine.checkpoints.hf_source import GPT2_VOCAB
from worker.engine.config.budget import BudgetPlan
from worker.engine.config.derived import set_knobs, with_derived_schedule
from worker.engine.config.train_config import TrainConfig
from worker.engine.config.verdict import judge
from worker.engine.data.prepare import check_split


def start_run(session: Session, *, plan: RunPlan) -> tuple[Run, Followup]:
    """Store a checked plan: its preparation requested (made, or a failed one retried), then
    the run, queued when the split is ready and else preparing."""
    prep, followup = request_preparation(
        session, dataset=plan.dataset, tokenizer=plan.tokenizer, val_fraction=plan.val_fraction
    )
    run, queued = runs.insert_run(session, new=plan.new_run(), preparation=prep)
    return run, followup.extend(queued)


def plan_new(
    session: Session,
    *,
    dataset_id: int,
    tokenizer: str,
    val_fraction: float,
    preset: str | None,
    config: Mapping[str, Any],
    name: str | None,
    gpus: int | list[int] | None = None,
    processes: int | None = None,
    budget: object = None,
) -> RunPlan:
    """A new run from `preset` and `config`; with a `budget` (a wall time), the planner
    chooses every knob `config` does not set."""
    dataset = get_dataset(session, dataset_id=dataset_id)
    budget_plan = None
    if budget is None:
        cfg = build_config(preset=preset, config=config)
    else:
        require_ready(dataset)  # the plan needs the data's size
        budget_plan = plan_for_budget(
            session,
            dataset=dataset,
            tokenizer=tokenizer,
            val_fraction=val_fraction,
            preset=preset,
            config=config,
            budget=budget,
        )
        cfg = budget_plan.config
    require_ready(dataset)
    return _checked(
        session,
        devices=checked_devices(cfg, gpus=gpus, processes=processes),
        dataset=dataset,
        tokenizer=tokenizer,
        val_fraction=val_fraction,
        preset=preset,
        cfg=cfg,
        name=name or f"{dataset.name} · {_label(preset, budget_plan)}",
        budget=budget_plan,
    )


def _label(preset: str | None, budget: BudgetPlan | None) -> str:
    if budget is not None:
        return f"{budget.budget_s:g} s budget"
    return preset or "custom"


def plan_clone(
    session: Session,
    *,
    source: Run,
    name: str | None,
    dataset_id: int | None,
    tokenizer: str | None,
    val_fraction: float | None,
    overrides: Mapping[str, Any],
    gpus: int | list[int] | None = None,
    processes: int | None = None,
) -> RunPlan:
    """`source`'s config with `overrides`, from scratch."""
    target = dataset_id if dataset_id is not None else source.dataset_id
    if target is None:
        raise ConflictError(
            f"run {source.id}'s dataset was deleted; pass dataset_id", field="dataset_id"
        )
    dataset = get_dataset(session, dataset_id=target)
    require_ready(dataset)
    build_config(preset=None, config=overrides)  # refuses service-owned fields
    base = TrainConfig.from_mapping(user_fields(source.config))
    kept = {name: getattr(base, name) for name in set_knobs(base)}  # the source's own choice
    cfg = with_derived_schedule(base, {**kept, **overrides})
    if gpus is None and processes is None and source.devices:
        gpus = source.devices["indices"] or (source.devices["count"] or None)
        processes = source.devices["processes"]
    return _checked(
        session,
        devices=checked_devices(cfg, gpus=gpus, processes=processes),
        dataset=dataset,
        tokenizer=tokenizer or source.tokenizer,
        val_fraction=val_fraction if val_fraction is not None else source.val_fraction,
        preset=source.preset,
        cfg=cfg,
        name=name or f"{source.name} (clone)",
    )


def require_ready(dataset: Dataset) -> None:
    if dataset.state == DatasetState.INSPECTING:
        raise ConflictError(
            f"dataset {dataset.id} is still being inspected; start the run when it is ready",
            field="dataset_id",
        )
    if dataset.state == DatasetState.FAILED:
        raise ConflictError(
            f"dataset {dataset.id} is not usable: {dataset.error}", field="dataset_id"
        )


def _checked(
    session: Session,
    *,
    dataset: Dataset,
    tokenizer: str,
    val_fraction: float,
    preset: str | None,
    cfg: TrainConfig,
    name: str,
    devices: dict[str, Any] | None,
    budget: BudgetPlan | None = None,
) -> RunPlan:
    check_split(dataset.characters, val_fraction)
    prep = find_preparation(
        session, dataset_id=dataset.id, tokenizer=tokenizer, val_fraction=val_fraction
    )
    meta = prepared_meta(dataset, prep, tokenizer=tokenizer, val_fraction=val_fraction)
    char_vocab = len(dataset.vocab or ()) if tokenizer == "char" else None
    bpe_vocab = int(tokenizer.split("-")[1]) if tokenizer.startswith("bpe-") else None
    vocab = meta.get("vocab_size") or char_vocab or bpe_vocab or GPT2_VOCAB
    settings = get_settings()
    device = train_device(settings, cfg.device) if settings.memory_guard else None
    verdict = judge(cfg, meta, vocab_size=int(vocab), device=device)
    if verdict.errors:
        raise ProblemsError([as_problem(e) for e in verdict.errors])
    prepared = prep is not None and prep.state == PrepState.READY
    return RunPlan(
        dataset=dataset,
        tokenizer=tokenizer,
        val_fraction=val_fraction,
        preset=preset,
        cfg=cfg,
        name=name,
        meta=meta,
        exact=prepared and prep is not None and prep.train_tokens is not None,
        prepared=prepared,
        devices=devices,
        warnings=verdict.warnings,
        memory=verdict.memory,
        budget=budget,
    )


def refuse_warnings(plan: RunPlan, *, strict: bool) -> None:
    """A plan with warnings starts, its warnings in the answer; with `strict` it is refused
    instead (422 unaccepted_warnings: the sum, then each warning)."""
    if plan.warnings and strict:
        problems = [Problem(w.code, w.message, w.field) for w in plan.warnings]
        raise ProblemsError(
            [
                Problem(
                    "unaccepted_warnings",
                    f"{len(problems)} warning{'s' if len(problems) > 1 else ''} refused "
                    "(strict: true; without it the run starts and the answer lists them): "
                    + "; ".join(p.message for p in problems),
                    problems[0].field,
                ),
                *problems,
            ]
        )


def resume(
    session: Session,
    *,
    run_id: int,
    max_iters: int | None,
    gpus: int | list[int] | None = None,
    processes: int | None = None,
) -> tuple[Run, Followup]:
    """Continue a finished run. A new `max_iters` is checked as a new run's config is (the
    data is known to fit); with `gpus` or `processes` it continues on those devices (a
    checkpoint of N ranks resumes on M; exact only when M = N) and on the queue that holds
    them."""
    run = runs.resumable(session, run_id=run_id)
    config = dict(run.config)
    if max_iters is not None:
        cfg = TrainConfig.from_mapping({**user_fields(config), "max_iters": max_iters})
        check_config(cfg, None)
        config = stored_config(cfg)
    devices = run.devices
    if gpus is not None or processes is not None:
        cfg = TrainConfig.from_mapping(user_fields(config))
        devices = checked_devices(cfg, gpus=gpus, processes=processes)
    return runs.resume_run(
        session,
        run=run,
        config=config,
        devices=devices,
        queue=queue_for(devices),
        max_iters_asked=max_iters,
    )
