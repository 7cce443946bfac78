"""A checkpoint written by nanoGPT's train.py, made into a studio run folder.

The ckpt.pt is loaded with weights_only=True (tensors and plain data only; a file that
needs anything else is refused), its weights are checked against model_args name by name
and shape by shape, and the tokenizer is settled: the characters of meta.pkl (read with
safe_pickle, never pickle.load), or GPT-2 when there is no meta.pkl and the vocabulary has
GPT-2's 50257 ids or more. The result is out_dir/ckpt.pt, which `sample` reads and which
`train --init_from=resume` continues.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from worker.engine.checkpoints.files import (
    LATEST,
    MODEL_ARG_KEYS,
    clean_state_dict,
    save_checkpoint,
)
from worker.engine.checkpoints.hf_weights import expected_shapes
from worker.engine.checkpoints.safe_pickle import read_meta_pkl
from worker.engine.errors import ConfigError, DataError
from worker.engine.model.gpt import GPT, GPTConfig
from worker.engine.tokenizers.gpt2 import VOCAB_SIZE

# What nanoGPT's train.py saves, and what our own checkpoints add (kept when present).
NANOGPT_KEYS = ("model", "optimizer", "model_args", "iter_num", "best_val_loss", "config")
STUDIO_KEYS = ("tokenizer", "val_loss", "resume")
HEAD, WTE = "lm_head.weight", "transformer.wte.weight"


@dataclass
class ImportResult:
    checkpoint: Path
    model_args: dict[str, Any]
    tokenizer: dict[str, Any]
    iter_num: int
    notes: list[str] = field(default_factory=list)  # what was dropped or assumed, for the user


def import_nanogpt(
    ckpt_path: str | Path, out_dir: str | Path, *, meta_path: str | Path | None = None
) -> ImportResult:
    ckpt_path, target = Path(ckpt_path), Path(out_dir) / LATEST
    if target.exists():
        raise ConfigError(f"{target} exists; import into a new folder", field="out_dir")
    raw = _load(ckpt_path)
    notes: list[str] = []
    extra = sorted(k for k in raw if k not in NANOGPT_KEYS + STUDIO_KEYS)
    if extra:
        notes.append(f"left out keys nanoGPT does not write: {', '.join(map(str, extra))}")
    state = clean_state_dict(raw["model"])
    model_args = _model_args(raw["model_args"], state, notes)
    _check_weights(state, model_args, ckpt_path.name)
    meta = read_meta_pkl(meta_path) if meta_path is not None else None
    tokenizer = _tokenizer(meta, raw, model_args, ckpt_path.name)
    checkpoint: dict[str, Any] = {
        "model": state,
        "model_args": model_args,
        "iter_num": _int(raw.get("iter_num", 0), "iter_num"),
        "best_val_loss": float(raw.get("best_val_loss", 1e9)),  # nanoGPT saves a 0-d tensor
        "config": dict(raw.get("config") or {}),
        "tokenizer": tokenizer,
        "val_loss": None,
    }
    optimizer = raw.get("optimizer")
    if optimizer is not None and _optimizer_fits(optimizer, model_args):
        checkpoint["optimizer"] = optimizer
    elif optimizer is not None:
        notes.append("left out the optimizer state: it does not match the model's parameters")
    save_checkpoint(checkpoint, target)
    return ImportResult(target, model_args, tokenizer, checkpoint["iter_num"], notes)


def _load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DataError(f"no checkpoint at {path}", field="ckpt")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise DataError(
            f"{path.name} holds more than tensors and plain data, so it was not loaded "
            f"(weights_only=True refused it): {exc}",
            field="ckpt",
        ) from exc
    except (RuntimeError, EOFError, OSError) as exc:
        raise DataError(f"{path.name} is not a readable checkpoint: {exc}", field="ckpt") from exc
    if not isinstance(raw, dict) or "model" not in raw or "model_args" not in raw:
        raise DataError(f"{path.name} lacks nanoGPT's 'model' and 'model_args'", field="ckpt")
    return raw


def _model_args(raw: Any, state: dict[str, torch.Tensor], notes: list[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise DataError("model_args is not a dict", field="ckpt")
    args = {k: raw[k] for k in MODEL_ARG_KEYS if k in raw}
    # early nanoGPT versions saved neither: dropout does not shape weights, bias shows in them
    if "dropout" not in args:
        args["dropout"] = 0.0
    if "bias" not in args:
        args["bias"] = "transformer.ln_f.bias" in state
        notes.append(f"model_args had no 'bias'; the weights say bias={args['bias']}")
    missing = [k for k in MODEL_ARG_KEYS if k not in args]
    if missing:
        raise DataError(f"model_args lacks {', '.join(missing)}", field="ckpt")
    for key in ("n_layer", "n_head", "n_embd", "block_size", "vocab_size"):
        args[key] = _int(args[key], f"model_args.{key}")
    args["bias"], args["dropout"] = bool(args["bias"]), float(args["dropout"])
    if args["n_embd"] % args["n_head"]:
        raise DataError("model_args: n_embd is not divisible by n_head", field="ckpt")
    return args


def _check_weights(state: dict[str, torch.Tensor], model_args: dict[str, Any], name: str) -> None:
    """Every weight GPT(model_args) has, with its shape; the first difference is named."""
    if HEAD not in state and WTE in state:
        state[HEAD] = state[WTE]  # tied; some writers keep only one name
    wanted = expected_shapes(model_args)
    for key, shape in wanted.items():
        if key not in state:
            raise DataError(f"{name}: missing weight {key!r}", field="ckpt")
        if tuple(state[key].shape) != shape:
            raise DataError(
                f"{name}: {key} has shape {tuple(state[key].shape)}, model_args say {shape}",
                field="ckpt",
            )
    unexpected = [key for key in state if key not in wanted]
    if unexpected:
        raise DataError(f"{name}: unexpected weight {unexpected[0]!r}", field="ckpt")
    if not torch.equal(state[HEAD], state[WTE]):
        raise DataError(f"{name}: lm_head.weight is not tied to wte", field="ckpt")
    state[HEAD] = state[WTE]  # one tensor again, as in a live model


def _tokenizer(
    meta: dict[str, Any] | None, raw: dict[str, Any], model_args: dict[str, Any], name: str
) -> dict[str, Any]:
    vocab = model_args["vocab_size"]
    if meta is not None:
        chars = [meta["itos"][i] for i in range(len(meta["itos"]))]
        if len(chars) > vocab:
            raise DataError(
                f"meta.pkl has {len(chars)} characters but the model only {vocab} ids",
                field="meta",
            )
        return {"kind": "char", "chars": chars}
    saved = raw.get("tokenizer")
    if isinstance(saved, dict) and isinstance(saved.get("kind"), str):
        return saved  # exported by the studio: it knows its tokenizer
    if vocab >= VOCAB_SIZE:
        return {"kind": "gpt2"}
    dataset = (raw.get("config") or {}).get("dataset", "<dataset>")
    raise DataError(
        f"{name} has a vocabulary of {vocab} ids, so it is not a GPT-2-token model; pass its "
        f"meta.pkl (nanoGPT keeps it at data/{dataset}/meta.pkl) with --meta",
        field="meta",
    )


def _optimizer_fits(optimizer: Any, model_args: dict[str, Any]) -> bool:
    """nanoGPT's AdamW groups equal ours: matrices (decayed), then vectors (not decayed)."""
    if not isinstance(optimizer, dict) or not isinstance(optimizer.get("param_groups"), list):
        return False
    with torch.device("meta"):
        params = list(GPT(GPTConfig(**model_args)).parameters())
    sizes = [sum(p.dim() >= 2 for p in params), sum(p.dim() < 2 for p in params)]
    return [len(g.get("params", [])) for g in optimizer["param_groups"]] == sizes


def _int(value: Any, name: str) -> int:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataError(f"{name} must be an integer, got {value!r}", field="ckpt")
    return value
