"""Tiny Hugging Face GPT-2 models made locally (the hub is out of reach here), and a fake
hub cache laid out as huggingface_hub lays it out."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from worker.engine.model.gpt import GPT, GPTConfig

TINY_GPT2 = {"n_layer": 2, "n_head": 2, "n_embd": 32, "n_positions": 64, "vocab_size": 50257}


def tiny_hf_gpt2(folder: Path, seed: int = 0, **config: Any) -> GPT2LMHeadModel:
    """A random GPT2LMHeadModel, saved with save_pretrained into folder."""
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(GPT2Config(**{**TINY_GPT2, **config})).eval()
    # random biases and norms too, so a mapping that drops or swaps them shows
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias") or ".ln_" in name:
                param.add_(torch.randn_like(param) * 0.05)
    model.save_pretrained(folder)
    return model


def hub_cache(root: Path, repo: str, source: Path, files: list[str] | None = None) -> Path:
    """Copy files from source into root as huggingface_hub's cache holds them: blobs,
    a snapshot per commit (links into blobs) and refs/main naming the commit."""
    repo_dir = root / f"models--{repo.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo_dir / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo_dir / "blobs").mkdir()
    for name in files or ["config.json", "model.safetensors"]:
        blob = repo_dir / "blobs" / f"blob-{name}"
        shutil.copyfile(source / name, blob)
        (snapshot / name).symlink_to(Path("..", "..", "blobs", blob.name))
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(commit)
    return snapshot


def ours_from_state(model_args: dict[str, Any], state: dict[str, torch.Tensor]) -> GPT:
    model = GPT(GPTConfig(**model_args))
    model.load_state_dict(state)
    return model.eval()


@torch.no_grad()
def all_logits(model: GPT, idx: torch.Tensor) -> torch.Tensor:
    """Logits at every position (our forward gives them all when targets are passed)."""
    logits, _ = model(idx, idx)
    return logits
