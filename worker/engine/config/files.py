"""Config files as plain data: TOML, JSON, or nanoGPT's config/*.py (parsed, never run); and
a run's config written back out as TOML or JSON that this reader (the CLI's `--config`, the
studio's "Load config") reads to the same run."""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from worker.engine.config.nanogpt_files import IgnoredLine, parse_nanogpt_config
from worker.engine.errors import ConfigError

ConfigFormat = Literal["toml", "json", "nanogpt"]
FORMATS: dict[str, ConfigFormat] = {".toml": "toml", ".json": "json", ".py": "nanogpt"}


@dataclass
class ParsedConfig:
    format: ConfigFormat
    values: dict[str, Any] = field(default_factory=dict)  # setting name -> plain value
    ignored: list[IgnoredLine] = field(default_factory=list)  # a nanoGPT file's other lines


def load_config_file(
    path: str | Path, report: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Read a TOML, JSON or nanoGPT .py config file as plain data; nothing in it is executed.

    A .py file is parsed (see nanogpt_config.py); each line it ignores goes to `report`.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read config file {path}: {exc.strerror}", field="config"
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path.name} is not UTF-8 text: {exc.reason}", field="config") from exc
    parsed = parse_config_text(text, path.name)
    for line in parsed.ignored if report is not None else ():
        report(f"{path.name}: ignored {line}")
    return parsed.values


def parse_config_text(text: str, name: str) -> ParsedConfig:
    """The settings in a config file's text; `name` (its file name) says which format."""
    kind = FORMATS.get(Path(name).suffix.lower())
    if kind is None:
        raise ConfigError(
            f"config file {name} must end in .toml or .json (or .py for a nanoGPT config)",
            field="config",
        )
    if kind == "nanogpt":
        parsed = parse_nanogpt_config(text, name=name)
        return ParsedConfig("nanogpt", parsed.values, parsed.ignored)
    try:
        data = json.loads(text) if kind == "json" else tomllib.loads(text)
    # ValueError: their decode errors, and a number past Python's 4,300 digits
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"{name} is not valid {kind.upper()}: {exc}", field="config") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{name} must hold a table of settings", field="config")
    return ParsedConfig(kind, data)


_KEY_LINE = re.compile(r'^\s*"?([^"=:\s]+)"?\s*[=:]')


class KeyLines:
    """Where a TOML or JSON file sets each key (for the list of what was ignored): the text
    is read once, on the first question, however many keys are asked about."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._lines: dict[str, IgnoredLine] | None = None

    def line_of(self, key: str) -> IgnoredLine:
        if self._lines is None:
            self._lines = {}
            for number, line in enumerate(self._text.splitlines(), start=1):
                found = _KEY_LINE.match(line)
                if found:
                    self._lines.setdefault(found.group(1), IgnoredLine(number, line.strip(), ""))
        return self._lines.get(key, IgnoredLine(0, key, ""))


def dump_toml(values: Mapping[str, Any], header: str = "") -> str:
    """Flat settings as TOML (a dict value becomes a table at the end); `header` as comments."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    tables: list[tuple[str, Mapping[str, Any]]] = []
    for key, value in values.items():
        if isinstance(value, Mapping):
            tables.append((key, value))
        else:
            lines.append(f"{key} = {_toml_value(key, value)}")
    for key, table in tables:
        lines += ["", f"[{key}]"] + [
            f"{json.dumps(k)} = {_toml_value(k, v)}" for k, v in table.items()
        ]
    return "\n".join(lines) + "\n"


def _toml_value(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        assert math.isfinite(value), f"{key} is not finite"
        return repr(value)  # 0.0006, 6e-05, 1e+20: all valid TOML floats
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    raise ConfigError(f"{key} cannot be written as TOML: {type(value).__name__}", field=key)
