"""Config files as plain data: TOML, JSON, or nanoGPT's config/*.py (parsed, never run)."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from worker.engine.errors import ConfigError
from worker.engine.nanogpt_config import read_nanogpt_config


def load_config_file(
    path: str | Path, report: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Read a TOML, JSON or nanoGPT .py config file as plain data; nothing in it is executed.

    A .py file is parsed (see nanogpt_config.py); each line it ignores goes to `report`.
    """
    path = Path(path)
    if path.suffix == ".py":
        parsed = read_nanogpt_config(path)
        for line in parsed.ignored if report is not None else ():
            report(f"{path.name}: ignored {line}")
        return parsed.values
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read config file {path}: {exc.strerror}", field="config"
        ) from exc
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        elif path.suffix == ".toml":
            data = tomllib.loads(text)
        else:
            raise ConfigError(
                f"config file {path.name} must end in .toml or .json (or .py for a nanoGPT config)",
                field="config",
            )
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"{path.name} is not valid {path.suffix[1:].upper()}: {exc}", field="config"
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name} must hold a table of settings", field="config")
    return data
