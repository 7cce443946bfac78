"""A budget run's config: the engine's budget planner (`worker.engine.config.budget`) fed with
what the service knows: the data's token count (exact once prepared, else estimated from the
upload), its vocabulary and the device a train worker reports, with the speed it measured.
The knobs the user sets in `config` are kept; the preset (or the default) gives the rest the
plan does not choose."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from app.planning.run_config import as_problem, build_config
from app.planning.worker_devices import train_device, train_speed
from app.store.db import Session
from app.store.errors import ProblemsError
from app.store.models import Dataset
from app.store.preparations import find_preparation, prepared_meta
from app.store.settings import get_settings
from worker.engine.checkpoints.hf_source import GPT2_VOCAB
from worker.engine.config.budget import BudgetPlan, parse_budget, plan_budget
from worker.engine.errors import ConfigError

# The tag a budget run's config carries: the whole budget in seconds, for the run page
BUDGET_TAG = "budget_s"


def plan_for_budget(
    session: Session,
    *,
    dataset: Dataset,
    tokenizer: str,
    val_fraction: float,
    preset: str | None,
    config: Mapping[str, Any],
    budget: object,
) -> BudgetPlan:
    """The plan `budget` buys for this data; a bad budget is a 422 naming `budget`."""
    try:
        budget_s = parse_budget(budget)
    except ConfigError as exc:
        raise ProblemsError([as_problem(exc)]) from None
    base = build_config(preset=preset, config=config)
    prep = find_preparation(
        session, dataset_id=dataset.id, tokenizer=tokenizer, val_fraction=val_fraction
    )
    meta = prepared_meta(dataset, prep, tokenizer=tokenizer, val_fraction=val_fraction)
    settings = get_settings()
    device = train_device(settings, base.device)
    try:
        plan = plan_budget(
            budget_s,
            base,
            fixed=frozenset(config),
            train_tokens=int(meta.get("train_tokens") or 0),
            vocab_size=data_vocab(dataset, tokenizer, meta),
            device=device,
            speed=train_speed(settings, base.device),
        )
    except ConfigError as exc:
        raise ProblemsError([as_problem(exc)]) from None
    tags = {**plan.config.tags, BUDGET_TAG: f"{budget_s:g}"}
    return dataclasses.replace(plan, config=dataclasses.replace(plan.config, tags=tags))


def data_vocab(dataset: Dataset, tokenizer: str, meta: Mapping[str, Any]) -> int:
    """The vocabulary a run on this data has: the prepared split's, else the upload's
    characters (char), the BPE's size asked for, or GPT-2's."""
    char_vocab = len(dataset.vocab or ()) if tokenizer == "char" else None
    bpe_vocab = int(tokenizer.split("-")[1]) if tokenizer.startswith("bpe-") else None
    return int(meta.get("vocab_size") or char_vocab or bpe_vocab or GPT2_VOCAB)
