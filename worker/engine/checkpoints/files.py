"""Checkpoint files: nanoGPT's keys, written atomically, read back with weights_only=True.

A checkpoint holds `model`, `optimizer`, `model_args`, `iter_num`, `best_val_loss` and `config`
exactly as nanoGPT writes them, so nanoGPT's sample.py loads ours. We add, as plain data,
`tokenizer` (its metadata) and `resume` (RNG and scaler state for exact resume).
"""

from __future__ import annotations

import errno
import os
import pickle
import shutil
from pathlib import Path
from typing import Any

import torch

from worker.engine.errors import DataError, DiskFullError
from worker.engine.staging import fsync_directory

LATEST = "ckpt.pt"
BEST = "best.pt"
REQUIRED_KEYS = ("model", "model_args", "iter_num", "best_val_loss", "config")
MODEL_ARG_KEYS = ("n_layer", "n_head", "n_embd", "block_size", "bias", "vocab_size", "dropout")


# Room a checkpoint needs beyond its tensors: pickled structure, config, zip headers.
SIZE_SLACK = 1.05
SIZE_MARGIN_BYTES = 1 << 20


def tensor_bytes(value: Any) -> int:
    """The bytes of every tensor in a nested checkpoint payload."""
    if isinstance(value, torch.Tensor):
        return value.nelement() * value.element_size()
    if isinstance(value, dict):
        return sum(tensor_bytes(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(tensor_bytes(v) for v in value)
    return 0


def _is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    # torch's zip writer reports a short write as "unexpected pos …" or the OS message.
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        "No space left" in text or "unexpected pos" in text or "file write failed" in text
    )


def _disk_full(path: Path, needed: int | None) -> DiskFullError:
    free = shutil.disk_usage(path.parent).free
    wants = f"; it needs about {needed / 1e6:,.1f} MB" if needed else ""
    if (path.parent / LATEST).is_file():  # the run's newest checkpoint, whichever file failed
        kept = "The previous checkpoint is kept; free some space (old runs, exports, datasets) "
        kept += "and resume"
    else:
        kept = "No checkpoint has been written yet; free some space (old runs, exports, "
        kept += "datasets) and start the run again"
    return DiskFullError(
        f"no room for the checkpoint {path.name} in {path.parent}: "
        f"{free / 1e6:,.1f} MB free{wants}. {kept}",
        field="out_dir",
    )


def save_checkpoint(checkpoint: dict[str, Any], path: Path) -> int:
    """Write a checkpoint atomically: temp file, fsync, rename. Returns its size in bytes.

    A reader (or a crash) never sees a half-written file: it finds the old one or the new one.
    The free space is checked first, so a full disk stops a run cleanly (DiskFullError) with
    its previous checkpoint, instead of failing in the middle of torch's writer.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    needed = int(tensor_bytes(checkpoint) * SIZE_SLACK) + SIZE_MARGIN_BYTES
    if shutil.disk_usage(path.parent).free < needed:
        raise _disk_full(path, needed)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as f:
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except (OSError, RuntimeError) as exc:
        if _is_disk_full(exc):
            tmp.unlink(missing_ok=True)
            raise _disk_full(path, needed) from exc
        raise
    finally:
        tmp.unlink(missing_ok=True)
    fsync_directory(path.parent)
    return path.stat().st_size


def resolve_checkpoint_path(path: str | Path) -> Path:
    """Accept a checkpoint file or a run directory (its latest checkpoint)."""
    path = Path(path)
    if path.is_dir():
        path = path / LATEST
    if not path.is_file():
        raise DataError(f"no checkpoint at {path}", field="ckpt")
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with weights_only=True (no code runs) and check its shape."""
    path = resolve_checkpoint_path(path)
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as exc:
        raise DataError(f"{path.name} is not a readable checkpoint: {exc}", field="ckpt") from exc
    if not isinstance(checkpoint, dict):
        raise DataError(f"{path.name} does not hold a checkpoint dictionary", field="ckpt")
    missing = [key for key in REQUIRED_KEYS if key not in checkpoint]
    if missing:
        raise DataError(f"{path.name} lacks checkpoint keys: {', '.join(missing)}", field="ckpt")
    model_args = checkpoint["model_args"]
    missing_args = [key for key in MODEL_ARG_KEYS if key not in model_args]
    if missing_args:
        raise DataError(f"{path.name} lacks model_args: {', '.join(missing_args)}", field="ckpt")
    return checkpoint


def clean_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop torch.compile's `_orig_mod.` prefix, which nanoGPT checkpoints sometimes carry."""
    prefix = "_orig_mod."
    return {k.removeprefix(prefix): v for k, v in state_dict.items()}


def checkpoint_summary(path: str | Path) -> dict[str, Any]:
    """Small facts about a checkpoint for listings, without keeping its tensors around."""
    path = resolve_checkpoint_path(path)
    checkpoint = load_checkpoint(path)
    return {
        "name": path.name,
        "iter_num": int(checkpoint["iter_num"]),
        "best_val_loss": float(checkpoint["best_val_loss"]),
        "val_loss": checkpoint.get("val_loss"),
        "size_bytes": path.stat().st_size,
        "model_args": dict(checkpoint["model_args"]),
        "tokenizer": checkpoint.get("tokenizer"),
    }
