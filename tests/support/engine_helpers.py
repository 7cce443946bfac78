"""Small prepared corpora and tiny configs for the engine's tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from worker.engine.checkpoints.files import LATEST, save_checkpoint
from worker.engine.config.train_config import TrainConfig
from worker.engine.data.prepare import prepare
from worker.engine.model.gpt import GPT, GPTConfig
from worker.engine.tokenizers.load import get_tokenizer

SHAKESPEARE = Path(__file__).resolve().parents[2] / "app" / "sample_data" / "tinyshakespeare.txt"


def shakespeare(chars: int) -> str:
    with SHAKESPEARE.open(encoding="utf-8") as f:
        return f.read(chars)


def prepared(tmp: Path, text: str, tokenizer: str = "char", val_fraction: float = 0.1) -> Path:
    """Write text to a file and prepare it; returns the data folder."""
    source = tmp / "input.txt"
    source.write_text(text, encoding="utf-8")
    data = tmp / f"data-{tokenizer}"
    prepare(source, data, tokenizer=tokenizer, val_fraction=val_fraction)
    return data


def tiny_config(data_dir: Path, out_dir: Path, **overrides: Any) -> TrainConfig:
    """A model that trains in a second or two on a CPU."""
    values: dict[str, Any] = {
        "data_dir": str(data_dir),
        "out_dir": str(out_dir),
        "device": "cpu",
        "compile": False,
        "n_layer": 2,
        "n_head": 2,
        "n_embd": 32,
        "block_size": 32,
        "batch_size": 8,
        "gradient_accumulation_steps": 1,
        "max_iters": 40,
        "eval_interval": 20,
        "eval_iters": 4,
        "log_interval": 5,
        "learning_rate": 3e-3,
        "warmup_iters": 5,
        "lr_decay_iters": 40,
        "min_lr": 3e-4,
        "dropout": 0.0,
    }
    values.update(overrides)
    return TrainConfig.from_mapping(values)


def documents_model(run_dir: Path, eot_logit: float) -> None:
    """A run folder with an untrained char model of a corpus of documents ("\\0" is id 0,
    the end-of-text token) whose next-token logits are always eot_logit for it and 0 for
    the rest: ln_f turns every state into ones, and the head's rows sum to those logits."""
    tokenizer = get_tokenizer("char", chars=["\0", "\n", "a", "b"])
    model = GPT(GPTConfig(block_size=8, vocab_size=4, n_layer=1, n_head=1, n_embd=8, bias=True))
    with torch.no_grad():
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.fill_(1.0)
        model.lm_head.weight.zero_()
        model.lm_head.weight[0] = eot_logit / 8
    checkpoint = {
        "model": model.state_dict(),
        "model_args": model.config.to_dict(),
        "iter_num": 0,
        "best_val_loss": 1e9,
        "config": {},
        "tokenizer": tokenizer.to_meta(),
    }
    save_checkpoint(checkpoint, run_dir / LATEST)
