"""A run's config as a file, and a config file read back into the run form's knobs: the
engine's reader (`worker.engine.config.files`, the CLI's `--config`) on both ends, so a file
downloaded from one run loads into the form, or into `nanogpt-studio train --config`, as the
same run."""

from __future__ import annotations

import json
import re
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
    )  # the first two lines read back as the file's RunNames (`run_names`)
    return name, dump_toml(values, header)


@dataclass(frozen=True)
class RunNames:
    """What a downloaded TOML's header says of the run it came from, for the form."""

    name: str
    dataset_id: int | None  # None: the run's dataset was deleted
    tokenizer: str
    val_fraction: float


_HEADER = re.compile(
    r"\A# nanoGPT Studio run \d+: (?P<name>[^\n]*)\n"
    r"# dataset (?P<dataset_id>\d+|None), tokenizer (?P<tokenizer>[\w-]+), "
    r"val_fraction (?P<val_fraction>[0-9.e-]+)\n"
)


def run_names(text: str) -> RunNames | None:
    """The name, dataset, tokenizer and val_fraction a studio's TOML names in its header
    (`config_file` writes it); None for any other file."""
    match = _HEADER.match(text)
    if match is None:
        return None
    try:
        val_fraction = float(match["val_fraction"])
    except ValueError:
        return None
    dataset = match["dataset_id"]
    return RunNames(
        name=match["name"].strip(),
        dataset_id=None if dataset == "None" else int(dataset),
        tokenizer=match["tokenizer"],
        val_fraction=val_fraction,
    )


@dataclass
class LoadedConfig:
    format: str
    config: dict[str, Any]  # typed knobs, ready for the form
    ignored: list[IgnoredLine]
    run: RunNames | None = None  # what the file says of the run it came from


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
    return LoadedConfig(parsed.format, _plain(config), ignored, run_names(text))


def _plain(config: Mapping[str, Any]) -> dict[str, Any]:
    return {k: dict(v) if isinstance(v, Mapping) else v for k, v in config.items()}
