"""What a new run (or a clone) would be, checked, writing nothing: the dataset ready, the
config built (preset, types, service-owned fields) and put through every preflight check with
what is known of the data. `app.crud.runs.insert_run` stores a plan; a dry run stops here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.core.errors import ConflictError
from app.core.models import Dataset, Preparation, Run
from app.core.states import DatasetState, PrepState
from app.crud.datasets import find_preparation, get_dataset, prepared_meta
from app.crud.run_config import build_config, check_config, user_fields
from worker.engine.config import TrainConfig


@dataclass
class RunPlan:
    """A run that passed every check; `app.crud.runs` stores it, a dry run shows it."""

    dataset: Dataset
    tokenizer: str
    val_fraction: float
    preset: str | None
    cfg: TrainConfig
    name: str
    meta: dict[str, Any]  # what preflight knew of the data
    exact: bool  # meta is the prepared split's, not an estimate from the upload
    prepared: bool  # the split is ready: the run would start queued, not preparing


def plan_new(
    session: Session,
    *,
    dataset_id: int,
    tokenizer: str,
    val_fraction: float,
    preset: str | None,
    config: Mapping[str, Any],
    name: str | None,
) -> RunPlan:
    dataset = get_dataset(session, dataset_id=dataset_id)
    cfg = build_config(preset=preset, config=config)
    require_ready(dataset)
    return _checked(
        session,
        dataset=dataset,
        tokenizer=tokenizer,
        val_fraction=val_fraction,
        preset=preset,
        cfg=cfg,
        name=name or f"{dataset.name} · {preset or 'custom'}",
    )


def plan_clone(
    session: Session,
    *,
    source: Run,
    name: str | None,
    dataset_id: int | None,
    tokenizer: str | None,
    val_fraction: float | None,
    overrides: Mapping[str, Any],
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
    cfg = TrainConfig.from_mapping({**user_fields(source.config), **overrides})
    return _checked(
        session,
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
) -> RunPlan:
    prep = find_preparation(
        session, dataset_id=dataset.id, tokenizer=tokenizer, val_fraction=val_fraction
    )
    # A split not prepared yet (or failed, to be retried) is judged by the upload's figures.
    estimate = Preparation(tokenizer=tokenizer, val_fraction=val_fraction, state=PrepState.QUEUED)
    meta = prepared_meta(dataset, prep or estimate)
    check_config(cfg, meta)
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
    )
