"""Where GPT-2 weights come from: a named size (Hugging Face cache, then the hub) or a folder.

`init_from` may be "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl" or a local folder in
Hugging Face's GPT-2 layout (config.json + model.safetensors or pytorch_model.bin). Named
sizes are looked up in the local Hugging Face cache first (HF_HUB_CACHE, HF_HOME, ...); only
when they are missing, huggingface_hub is installed and the hub is not switched off
(HF_HUB_OFFLINE) do we download. This module needs no torch and touches no network when
imported, so preflight (and the web process) can use it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker.engine.errors import ConfigError

# nanoGPT's names, with the hub repositories that hold them (the new name first).
GPT2_SIZES: dict[str, tuple[str, ...]] = {
    "gpt2": ("openai-community/gpt2", "gpt2"),
    "gpt2-medium": ("openai-community/gpt2-medium", "gpt2-medium"),
    "gpt2-large": ("openai-community/gpt2-large", "gpt2-large"),
    "gpt2-xl": ("openai-community/gpt2-xl", "gpt2-xl"),
}
GPT2_CONTEXT = 1024  # n_positions of every released GPT-2
GPT2_VOCAB = 50257
CONFIG_FILE = "config.json"
SAFETENSORS_FILE = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
PICKLE_FILE = "pytorch_model.bin"  # read with weights_only=True only
WEIGHT_FILES = (SAFETENSORS_FILE, SAFETENSORS_INDEX, PICKLE_FILE)  # in order of preference
_SCRATCH_OR_RESUME = ("scratch", "resume")


@dataclass(frozen=True)
class HFSource:
    """A folder holding a GPT-2 in Hugging Face layout, and what its config.json says."""

    name: str  # what the user wrote in init_from
    folder: Path
    config: dict[str, Any]
    weights: Path  # model.safetensors, its index, or pytorch_model.bin


def is_pretrained(init_from: str) -> bool:
    """True for every init_from that loads GPT-2 weights (a named size or a folder)."""
    return init_from not in _SCRATCH_OR_RESUME


def known_context(init_from: str) -> int | None:
    """The model's context (n_positions) when it can be known without downloading anything."""
    if init_from in GPT2_SIZES:
        return GPT2_CONTEXT
    folder = Path(init_from).expanduser()
    if (folder / CONFIG_FILE).is_file():
        return int(read_config(folder).get("n_positions", GPT2_CONTEXT))
    return None


def check_folder(init_from: str) -> None:
    """ConfigError (field init_from) unless init_from is a named size or a usable folder."""
    if init_from in GPT2_SIZES:
        return
    folder = Path(init_from).expanduser()
    if not folder.is_dir():
        names = ", ".join([*_SCRATCH_OR_RESUME, *GPT2_SIZES])
        raise ConfigError(
            f"init_from must be one of {names}, or a folder with a Hugging Face GPT-2 "
            f"(config.json and model.safetensors or pytorch_model.bin); {init_from!r} is "
            "neither",
            field="init_from",
        )
    missing = _missing_files(folder)
    if missing:
        raise ConfigError(
            f"{folder} is not a Hugging Face GPT-2 folder: {_describe_missing(missing)}",
            field="init_from",
        )


def resolve(init_from: str, *, allow_download: bool = True) -> HFSource:
    """Find the files for init_from: a folder, the local cache, or (last) a download."""
    check_folder(init_from)
    if init_from not in GPT2_SIZES:
        folder = Path(init_from).expanduser()
        return _source(init_from, folder)
    missing = [CONFIG_FILE, SAFETENSORS_FILE]  # what the cache lacks, at best
    for repo in GPT2_SIZES[init_from]:
        snapshot = cached_snapshot(repo)
        if snapshot is None:
            continue
        lacks = _missing_files(snapshot)
        if not lacks:
            return _source(init_from, snapshot)
        missing = min(missing, lacks, key=len)
    why = "downloads are switched off"
    if allow_download:
        folder, why = _download(GPT2_SIZES[init_from][0])
        if folder is not None:
            return _source(init_from, folder)
    raise ConfigError(_not_found_message(init_from, missing, why), field="init_from")


def hub_cache_dir() -> Path:
    """huggingface_hub's cache folder, from the same environment variables it reads."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "huggingface" / "hub"


def cached_snapshot(repo: str, revision: str = "main") -> Path | None:
    """The snapshot folder of `repo` at `revision` in the hub cache, if one is there.

    Layout: models--{org}--{name}/refs/{revision} holds a commit hash, and
    models--{org}--{name}/snapshots/{hash}/ holds the files (links into blobs/).
    """
    repo_dir = hub_cache_dir() / f"models--{repo.replace('/', '--')}"
    ref = repo_dir / "refs" / revision
    if ref.is_file():
        snapshot = repo_dir / "snapshots" / ref.read_text(encoding="utf-8").strip()
        if snapshot.is_dir():
            return snapshot
    snapshots = repo_dir / "snapshots"
    if snapshots.is_dir():  # no ref (a copied cache): any complete snapshot will do
        for candidate in sorted(snapshots.iterdir()):
            if not _missing_files(candidate):
                return candidate
    return None


def read_config(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG_FILE
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", field="init_from") from exc
    if not isinstance(config, dict):
        raise ConfigError(f"{path} does not hold a JSON object", field="init_from")
    return config


def _source(name: str, folder: Path) -> HFSource:
    weights = next(folder / f for f in WEIGHT_FILES if (folder / f).is_file())
    return HFSource(name=name, folder=folder, config=read_config(folder), weights=weights)


def _missing_files(folder: Path) -> list[str]:
    missing = [] if (folder / CONFIG_FILE).is_file() else [CONFIG_FILE]
    if not any((folder / f).is_file() for f in WEIGHT_FILES):
        missing.append(f"{SAFETENSORS_FILE} (or {PICKLE_FILE})")
    return missing


def _describe_missing(missing: list[str]) -> str:
    return "missing " + " and ".join(missing)


def _download(repo: str) -> tuple[Path | None, str]:
    """Download config.json and the weights with huggingface_hub; (folder, '') or (None, why)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return None, "HF_HUB_OFFLINE is set"
    try:
        from huggingface_hub import hf_hub_download  # imported here: no network at import
    except ImportError:
        return None, "huggingface_hub is not installed (pip install 'nanogpt-studio[hf]')"
    try:
        config = Path(hf_hub_download(repo, CONFIG_FILE))
        hf_hub_download(repo, SAFETENSORS_FILE)
    except Exception as exc:  # offline, DNS, HTTP errors, a full disk: all mean "not here"
        return None, f"the download failed ({type(exc).__name__}: {exc})"
    return config.parent, ""


def _not_found_message(name: str, missing: list[str], why: str) -> str:
    cache = hub_cache_dir()
    looked = ", ".join(f"{cache}/models--{r.replace('/', '--')}" for r in GPT2_SIZES[name])
    repo = GPT2_SIZES[name][0]
    return (
        f"GPT-2 weights {name!r} are not in the Hugging Face cache (looked in {looked}): "
        f"{_describe_missing(missing)}; {why}. Either download them where "
        f"there is internet (huggingface-cli download {repo} {CONFIG_FILE} "
        f"{SAFETENSORS_FILE}) and set HF_HOME to that cache, or copy the two files into a "
        "folder and pass it: --init_from=/path/to/folder"
    )
