"""A run's config as a file, and a config file read back into the run form's knobs: the
engine's reader (`worker.engine.config.files`, the CLI's `--config`) on both ends, so a file
downloaded from one run loads into the form, or into `nanogpt-studio train --config`, as the
same run."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from app.planning.run_config import SERVICE_FIELDS, user_fields
from app.store.errors import Problem, ProblemsError
from app.store.models import Run
from worker.engine.config.files import KeyLines, dump_toml, parse_config_text
from worker.engine.config.nanogpt_files import IgnoredLine
from worker.engine.config.train_config import TrainConfig
from worker.engine.errors import EngineError

FileFormat = Literal["toml", "json"]
MEDIA_TYPES: dict[str, str] = {"toml": "application/toml", "json": "application/json"}


def config_values(run: Run) -> dict[str, Any]:
    """Every knob of the run (the paths are the caller's: --data and --out on the CLI)."""
    values = user_fields(run.config)
    if not values.get("tags"):
        values.pop("tags", None)
    return values


def config_file(run: Run, file_format: FileFormat) -> tuple[str, str]:
    """(file name, text) of the run's config in `file_format`."""
    values = config_values(run)
    name = f"run-{run.id}.{file_format}"
    if file_format == "json":
        return name, json.dumps(values, indent=2) + "\n"
    header = (
        f"nanoGPT Studio run {run.id}: {run.name}\n"
        f"dataset {run.dataset_id}, tokenizer {run.tokenizer}, val_fraction {run.val_fraction}\n"
        f"nanogpt-studio train --config {name} --data <prepared data> --out <folder>"
    )
    return name, dump_toml(values, header)


@dataclass
class LoadedConfig:
    format: str
    config: dict[str, Any]  # typed knobs, ready for the form
    ignored: list[IgnoredLine]


def read_config(text: str, name: str) -> LoadedConfig:
    """The knobs in an uploaded config file, typed; what cannot be used is listed as ignored
    (a nanoGPT file's imports and computed lines, unknown names, the service's own paths).
    A knob of the wrong type is an error naming it (every one at once)."""
    parsed = parse_config_text(text, name)  # ConfigError (field "config") if unreadable
    ignored = list(parsed.ignored)
    known = set(TrainConfig.__dataclass_fields__)
    config: dict[str, Any] = {}
    problems: list[Problem] = []
    lines = KeyLines(text)

    def skip(key: str, why: str) -> None:
        where = lines.line_of(key)
        ignored.append(IgnoredLine(where.line, where.text, why))

    for key, raw in parsed.values.items():
        if key in SERVICE_FIELDS:
            skip(key, f"{key} is set by the service")
        elif key not in known:
            skip(key, f"{key} is not a training setting")
        elif key == "init_from" and raw == "resume":
            skip(key, "a new run starts from scratch or pretrained weights")
        else:
            try:
                config[key] = getattr(TrainConfig.from_mapping({key: raw}), key)
            except EngineError as exc:
                problems.append(Problem(exc.reason, f"{name}: {exc.message}", exc.field))
    if problems:
        raise ProblemsError(problems)
    ignored.sort(key=lambda line: line.line)
    return LoadedConfig(parsed.format, _plain(config), ignored)


def _plain(config: Mapping[str, Any]) -> dict[str, Any]:
    return {k: dict(v) if isinstance(v, Mapping) else v for k, v in config.items()}
