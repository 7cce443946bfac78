"""A run's TrainConfig (preset + user config, checked by the engine before anything is
queued) and the checked plan a new run is stored from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.store.errors import InvalidError
from app.store.models import Dataset
from app.store.settings import get_settings
from worker.engine.config import TrainConfig
from worker.engine.errors import EngineError
from worker.engine.hf_source import GPT2_SIZES
from worker.engine.presets import PRESETS, preset_config

# Set by the service for every run; a user value would point a run at other files.
SERVICE_FIELDS = ("data_dir", "out_dir")
# What a run without a preset starts from: nanoGPT's own defaults are GPT-2 124M with 40
# micro-steps, 600,000 iterations that would hold a CPU's training slot for days.
DEFAULT_PRESET = "tiny-cpu"


@dataclass
class RunPlan:
    """A run that passed every check (`app.store.run_plan`); stored, or shown by a dry run."""

    dataset: Dataset
    tokenizer: str
    val_fraction: float
    preset: str | None
    cfg: TrainConfig
    name: str
    meta: dict[str, Any]  # what preflight knew of the data
    exact: bool  # meta is the prepared split's, not an estimate from the upload
    prepared: bool  # the split is ready: the run would start queued, not preparing
    devices: dict[str, Any] | None = None  # GPUs / processes asked for (app.store.placement)


def build_config(*, preset: str | None, config: Mapping[str, Any]) -> TrainConfig:
    for name in SERVICE_FIELDS:
        if name in config:
            raise InvalidError(f"{name} is set by the service", field=name)
    if config.get("init_from") == "resume":
        raise InvalidError(
            "a new run starts from scratch or pretrained weights; to continue a run, "
            "POST /api/v1/runs/{id}/resume",
            field="init_from",
        )
    if "init_from" in config:
        config = {**config, "init_from": weights_source(str(config["init_from"]))}
    if preset is not None and preset not in PRESETS:
        choices = ", ".join(sorted(PRESETS))
        raise InvalidError(f"unknown preset {preset!r}; choose one of {choices}", field="preset")
    return preset_config(preset or DEFAULT_PRESET, dict(config))


def weights_source(init_from: str) -> str:
    """scratch, a GPT-2 size, or a folder inside the models folder, as an absolute path.

    Users name folders relative to STUDIO_MODELS_DIR; any other server path is refused, so
    the API cannot be used to read files the service was not given to share.
    """
    if init_from in ("scratch", *GPT2_SIZES):
        return init_from
    models = get_settings().pretrained_dir
    folder = (models / init_from).resolve()
    if not folder.is_relative_to(models) or folder == models:
        raise InvalidError(
            f"init_from must be scratch, {', '.join(GPT2_SIZES)}, or the name of a folder "
            f"in the models folder ({models})",
            field="init_from",
        )
    return str(folder)


def check_config(cfg: TrainConfig, meta: Mapping[str, Any] | None) -> None:
    """Every preflight check of the engine; the first problem becomes a 422 naming its field."""
    from worker.engine.preflight import find_problems

    problems: list[EngineError] = find_problems(cfg, meta)
    if problems:
        raise problems[0]


def stored_config(cfg: TrainConfig) -> dict[str, Any]:
    """The config as kept in the row: paths are filled in by the worker from its settings."""
    data = cfg.to_dict()
    data["data_dir"] = ""
    data["out_dir"] = ""
    if data["init_from"] == "resume":  # decided by the worker: a run with ckpt.pt resumes
        data["init_from"] = "scratch"
    return data


def user_fields(config: Mapping[str, Any]) -> dict[str, Any]:
    """A stored config without the fields the service owns, to build a clone from."""
    return {k: v for k, v in config.items() if k not in SERVICE_FIELDS}
