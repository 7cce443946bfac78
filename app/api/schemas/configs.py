from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.api.schemas.common import StrictBody
from app.planning.config_exchange import LoadedConfig

MAX_CONFIG_CHARS = 1_000_000  # nanoGPT's config files are a few hundred bytes


class ConfigUpload(StrictBody):
    filename: str = Field(
        min_length=1,
        max_length=255,
        description="Its name says the format: .toml, .json, or .py for nanoGPT's config/*.py",
    )
    text: str = Field(max_length=MAX_CONFIG_CHARS, description="The file's text (UTF-8)")


class IgnoredLineOut(BaseModel):
    line: int = Field(description="1-based; 0 where the file has no line for it")
    text: str
    why: str


class RunNamesOut(BaseModel):
    name: str
    dataset_id: int | None = Field(description="null: that run's dataset was deleted")
    tokenizer: str
    val_fraction: float


class ConfigLoadedOut(BaseModel):
    format: Literal["toml", "json", "nanogpt"]
    config: dict[str, Any] = Field(description="The knobs it sets, typed")
    ignored: list[IgnoredLineOut] = Field(description="What it holds that was not used, and why")
    run: RunNamesOut | None = Field(
        description="The run a studio's TOML came from, as its header names it (the form "
        "restores them); null for other files"
    )


def present_loaded(loaded: LoadedConfig) -> ConfigLoadedOut:
    return ConfigLoadedOut.model_validate(
        {
            "format": loaded.format,
            "config": loaded.config,
            "ignored": [{"line": i.line, "text": i.text, "why": i.why} for i in loaded.ignored],
            "run": asdict(loaded.run) if loaded.run else None,
        }
    )
