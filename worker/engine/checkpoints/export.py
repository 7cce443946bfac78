"""A studio checkpoint out to other tools: Hugging Face, bare safetensors, nanoGPT or GGUF.

    export_checkpoint("out/x", "hf", "export/x")

Every format is written into a hidden folder first and appears whole (staging.py), so a
failed export leaves nothing half-written behind.
- "hf": see hf_export.py.
- "safetensors": model.safetensors alone, our (nanoGPT's) tensor names, no pickle anywhere;
  model_args and the tokenizer ride in the file's string metadata as JSON. For the gpt2 arch
  lm_head.weight is left out: it is the same tensor as transformer.wte.weight (tied); the
  modern arch's head is its own tensor and is written.
- The modern arch exports to hf (its own modeling code inside) and safetensors; nanoGPT and
  GGUF have no place for it (export_formats.py).
- "gguf", "gguf-f16", "gguf-q8_0": one model.gguf for llama.cpp (gguf_export.py).
- "nanogpt": ckpt.pt with nanoGPT's keys only (plus `tokenizer`, plain data), and meta.pkl
  for a char model as nanoGPT's prepare.py writes it, so nanoGPT's sample.py runs on it.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from worker.engine.checkpoints.export_formats import FORMATS, GGUF_FORMATS, arch_refusal
from worker.engine.checkpoints.files import clean_state_dict, load_checkpoint
from worker.engine.checkpoints.gguf_export import write_gguf
from worker.engine.checkpoints.hf_export import write_hf
from worker.engine.errors import ConfigError, DataError
from worker.engine.staging import staged_directory

SAFETENSORS_FILE = "model.safetensors"
TIED = ("lm_head.weight", "transformer.wte.weight")  # (left out, kept)
NANOGPT_KEYS = ("model", "optimizer", "model_args", "iter_num", "best_val_loss", "config")

_NANOGPT_README = """# A nanoGPT checkpoint

`ckpt.pt` has nanoGPT's keys (model, optimizer, model_args, iter_num, best_val_loss, config),
so nanoGPT's `sample.py` and `train.py --init_from=resume` read it unchanged.
{meta_note}
From nanoGPT's folder:

    python sample.py --out_dir={out_dir} --device=cpu
"""
_META_NOTE = """
This model is character-level. nanoGPT's sample.py looks for its vocabulary at
`data/<config['dataset']>/meta.pkl`, relative to the folder it runs in, so copy it there first:

    mkdir -p data/{dataset} && cp {out_dir}/meta.pkl data/{dataset}/meta.pkl

Without it sample.py falls back to GPT-2's tokenizer and prints nonsense.
"""


def export_checkpoint(ckpt: str | Path, fmt: str, out_dir: str | Path) -> list[Path]:
    """Export a checkpoint (file or run folder) to out_dir; returns the files written."""
    check_format(fmt)
    return write_export(load_checkpoint(ckpt, map_location="cpu"), fmt, out_dir)


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        choices = ", ".join(FORMATS)
        raise ConfigError(f"unknown export format {fmt!r}; choose one of {choices}", field="format")


def write_export(
    checkpoint: dict[str, Any], fmt: str, out_dir: str | Path, *, shown_as: str | None = None
) -> list[Path]:
    """Write a loaded checkpoint in `fmt` to out_dir, which appears whole. `shown_as` is how
    the README names the folder (default: out_dir), for a folder that will be moved."""
    check_format(fmt)
    refusal = arch_refusal(str(checkpoint["model_args"].get("arch", "gpt2")), fmt)
    if refusal:
        raise ConfigError(refusal, field="format")
    out_dir = Path(out_dir)
    shown = Path(shown_as) if shown_as is not None else out_dir
    writers: dict[str, Callable[[dict[str, Any], Path, Path], list[str]]] = {
        "hf": lambda ckpt, folder, _final: write_hf(ckpt, folder),
        "safetensors": lambda ckpt, folder, _final: write_safetensors(ckpt, folder),
        "nanogpt": write_nanogpt,
        **{
            name: lambda ckpt, folder, _final, name=name: write_gguf(ckpt, folder, name)
            for name in GGUF_FORMATS
        },
    }
    with staged_directory(out_dir) as staging:
        names = writers[fmt](checkpoint, staging, shown)
    return [out_dir / name for name in names]


def write_safetensors(checkpoint: dict[str, Any], folder: Path) -> list[str]:
    state = clean_state_dict(checkpoint["model"])
    head, kept = TIED
    tied = checkpoint["model_args"].get("arch", "gpt2") == "gpt2"  # the modern head is its own
    if tied:
        same = state[head].data_ptr() == state[kept].data_ptr()
        assert same or torch.equal(state[head], state[kept])
    tensors = {
        name: t.detach().to("cpu").contiguous().clone()
        for name, t in state.items()
        if not (tied and name == head)
    }
    metadata = {
        "format": "pt",
        "model_args": json.dumps(checkpoint["model_args"]),
        "tokenizer": json.dumps(checkpoint.get("tokenizer")),
        "iter_num": str(int(checkpoint["iter_num"])),
    }
    if tied:
        metadata["tied"] = f"{head}={kept}"
    save_file(tensors, folder / SAFETENSORS_FILE, metadata=metadata)
    return [SAFETENSORS_FILE]


def read_safetensors(
    path: str | Path,
) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any] | None]:
    """(state dict with the tied head restored, model_args, tokenizer) from write_safetensors."""
    with safe_open(str(path), framework="pt") as file:
        metadata = file.metadata() or {}
        if "model_args" not in metadata:
            raise DataError(f"{path} was not written by a studio export", field="ckpt")
        state = {name: file.get_tensor(name) for name in file.keys()}  # noqa: SIM118
    if "tied" in metadata:
        head, kept = metadata["tied"].split("=")
        state[head] = state[kept]
    return state, json.loads(metadata["model_args"]), json.loads(metadata["tokenizer"])


def write_nanogpt(checkpoint: dict[str, Any], folder: Path, final_dir: Path) -> list[str]:
    kind = (checkpoint.get("tokenizer") or {}).get("kind")
    if kind == "bpe":
        raise ConfigError(
            "nanoGPT's sample.py knows only char (meta.pkl) and GPT-2 tokens, not a BPE trained "
            "on your text; export this model with --format hf (tokenizer.json included) or "
            "safetensors",
            field="format",
        )
    out = {key: checkpoint[key] for key in NANOGPT_KEYS if key in checkpoint}
    out["model"] = clean_state_dict(checkpoint["model"])
    out["best_val_loss"] = float(checkpoint["best_val_loss"])
    config = dict(checkpoint["config"])
    dataset = str(config.get("dataset") or "studio")
    config["dataset"] = dataset
    out["config"] = config
    tokenizer = checkpoint.get("tokenizer")
    if tokenizer is not None:
        out["tokenizer"] = tokenizer  # plain data; nanoGPT ignores it, our import reads it
    torch.save(out, folder / "ckpt.pt")
    names = ["ckpt.pt"]
    meta_note = ""
    if tokenizer is not None and tokenizer.get("kind") == "char":
        chars: list[str] = list(tokenizer["chars"])
        meta = {
            "vocab_size": len(chars),
            "itos": dict(enumerate(chars)),
            "stoi": {c: i for i, c in enumerate(chars)},
        }
        with (folder / "meta.pkl").open("wb") as f:
            pickle.dump(meta, f)  # our own plain dict; nanoGPT reads it with pickle.load
        names.append("meta.pkl")
        meta_note = _META_NOTE.format(dataset=dataset, out_dir=final_dir)
    readme = _NANOGPT_README.format(meta_note=meta_note, out_dir=final_dir)
    (folder / "README.md").write_text(readme, encoding="utf-8")
    return [*names, "README.md"]
