"""A run's TrainConfig (preset + user config, checked by the engine before anything is
queued) and the checked plan a new run is stored from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.planning.routing import queue_for
from app.store.errors import InvalidError, Problem, ProblemsError
from app.store.models import Dataset
from app.store.runs import NewRun
from app.store.settings import get_settings
from worker.engine.checkpoints.hf_source import GPT2_SIZES
from worker.engine.config.budget import BudgetPlan
from worker.engine.config.memory_guard import MemoryCheck
from worker.engine.config.presets import PRESETS, preset_config
from worker.engine.config.train_config import TrainConfig
from worker.engine.config.warnings import ConfigWarning
from worker.engine.errors import EngineError

# Set by the service for every run; a user value would point a run at other files.
SERVICE_FIELDS = ("data_dir", "out_dir")
# What a run without a preset starts from: nanoGPT's own defaults are GPT-2 124M with 40
# micro-steps, 600,000 iterations that would hold a CPU's training slot for days.
DEFAULT_PRESET = "tiny-cpu"


@dataclass
class RunPlan:
    """A run that passed every check (`app.planning.run_plan`); stored, or shown by a dry run."""

    dataset: Dataset
    tokenizer: str
    val_fraction: float
    preset: str | None
    cfg: TrainConfig
    name: str
    meta: dict[str, Any]  # what preflight knew of the data
    exact: bool  # meta is the prepared split's, not an estimate from the upload
    prepared: bool  # the split is ready: the run would start queued, not preparing
    devices: dict[str, Any] | None = None  # GPUs / processes asked for (app.planning.routing)
    warnings: list[ConfigWarning] = field(default_factory=list)  # to accept before it starts
    memory: MemoryCheck | None = None  # the estimate, and the device it was compared with
    budget: BudgetPlan | None = None  # a budget run's plan, and why

    def new_run(self) -> NewRun:
        """The plan as the store keeps it."""
        return NewRun(
            name=self.name,
            dataset_id=self.dataset.id,
            tokenizer=self.tokenizer,
            val_fraction=self.val_fraction,
            preset=self.preset,
            config=stored_config(self.cfg),
            devices=self.devices,
            queue=queue_for(self.devices),
        )


def build_config(*, preset: str | None, config: Mapping[str, Any]) -> TrainConfig:
    """The preset with `config` over it; every problem found at once (each knob is typed on
    its own, so every wrong one is named), as one ProblemsError."""
    problems: list[Problem] = []
    for name in SERVICE_FIELDS:
        if name in config:
            problems.append(Problem("invalid", f"{name} is set by the service", name))
    if config.get("init_from") == "resume":
        problems.append(
            Problem(
                "invalid",
                "a new run starts from scratch or pretrained weights; to continue a run, "
                "POST /api/v1/runs/{id}/resume",
                "init_from",
            )
        )
    elif "init_from" in config:
        try:
            config = {**config, "init_from": weights_source(str(config["init_from"]))}
        except InvalidError as exc:
            problems.append(Problem(exc.code, exc.message, exc.field))
    if preset is not None and preset not in PRESETS:
        choices = ", ".join(sorted(PRESETS))
        problems.append(
            Problem("invalid", f"unknown preset {preset!r}; choose one of {choices}", "preset")
        )
    for key, raw in config.items():
        if key in SERVICE_FIELDS:
            continue
        try:
            TrainConfig.from_mapping({key: raw}, strict=True)  # JSON: typed already
        except EngineError as exc:
            problems.append(Problem(exc.reason, exc.message, exc.field))
    if problems:
        raise ProblemsError(problems)
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


def config_problems(cfg: TrainConfig, meta: Mapping[str, Any] | None) -> list[Problem]:
    """Every preflight check of the engine, each problem naming its field."""
    from worker.engine.config.preflight import find_problems

    return [as_problem(p) for p in find_problems(cfg, meta)]


def check_config(cfg: TrainConfig, meta: Mapping[str, Any] | None) -> None:
    """config_problems, all of them raised as one 422."""
    problems = config_problems(cfg, meta)
    if problems:
        raise ProblemsError(problems)


def as_problem(error: EngineError) -> Problem:
    return Problem(error.reason, error.message, error.field)


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
