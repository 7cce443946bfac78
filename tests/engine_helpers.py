"""Small prepared corpora and tiny configs for the engine's tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from worker.engine.config import TrainConfig
from worker.engine.prepare import prepare

SHAKESPEARE = Path(__file__).resolve().parents[1] / "app" / "sample_data" / "tinyshakespeare.txt"


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
