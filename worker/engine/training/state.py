"""Building a run's model and optimizer, fresh or from a checkpoint, and saving them back."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from worker.engine.checkpoints.files import LATEST, clean_state_dict, load_checkpoint
from worker.engine.checkpoints.hf_source import is_pretrained
from worker.engine.config.train_config import TrainConfig
from worker.engine.device import Runtime
from worker.engine.model.build import AnyGPT, build_model
from worker.engine.training.optimizers import build_optimizer


@dataclass
class TrainingState:
    model: AnyGPT  # the plain module; checkpoints are saved from it, never from a compiled wrapper
    optimizer: Any  # torch.optim.AdamW, or optimizers.MuonWithAdamW
    scaler: torch.amp.GradScaler
    data_rng: torch.Generator
    iter_num: int
    best_val_loss: float
    last_eval_iter: int | None  # iteration of the last evaluation, so a resume does not repeat it
    model_args: dict[str, Any]
    weights_from: str  # the first start's init_from (scratch, gpt2, a folder); kept on resume
    # the checkpoint's `resume` entry: a DDP rank other than 0 takes its own states from it
    saved_resume: dict[str, Any] | None = None
    # early stopping: the val loss to beat (by early_stop_min_delta), and evaluations since
    early_stop_best: float = math.inf
    evals_without_improvement: int = 0
    budget_spent_s: float = 0.0  # seconds of the time budget (time_budget_s) spent so far


def build_training_state(cfg: TrainConfig, runtime: Runtime, vocab_size: int) -> TrainingState:
    """A fresh model, GPT-2's weights, or the model, optimizer and RNGs exactly as a checkpoint
    left them."""
    checkpoint = None
    weights: dict[str, torch.Tensor] | None = None
    weights_from = cfg.init_from
    if cfg.init_from == "resume":
        checkpoint = load_checkpoint(Path(cfg.out_dir) / LATEST, map_location=runtime.device)
        model_args = {**checkpoint["model_args"], "dropout": cfg.dropout}
        weights_from = str(checkpoint["config"].get("init_from", "scratch"))
    elif is_pretrained(cfg.init_from):
        from worker.engine.checkpoints.pretrained import load_pretrained

        pretrained = load_pretrained(cfg.init_from, block_size=cfg.block_size, dropout=cfg.dropout)
        model_args, weights = pretrained.model_args, pretrained.state_dict
        assert model_args["vocab_size"] >= vocab_size  # preflight made the data GPT-2 tokens
    else:
        model_args = cfg.model_args(vocab_size)
    torch.manual_seed(cfg.seed)
    model = build_model(model_args).to(runtime.device)
    if checkpoint is not None:
        model.load_state_dict(clean_state_dict(checkpoint["model"]))
    elif weights is not None:
        model.load_state_dict(weights)
    optimizer = build_optimizer(model, cfg, runtime.device_type)
    # fp16 needs loss scaling to keep small gradients from flushing to zero; bf16 does not
    scaler = torch.amp.GradScaler(runtime.device_type, enabled=runtime.dtype == "float16")
    data_rng = torch.Generator()
    data_rng.manual_seed(cfg.seed + 1)
    state = TrainingState(
        model=model,
        optimizer=optimizer,
        scaler=scaler,
        data_rng=data_rng,
        iter_num=0,
        best_val_loss=1e9,
        last_eval_iter=None,
        model_args=model_args,
        weights_from=weights_from,
    )
    if checkpoint is not None:
        _restore(state, checkpoint, runtime)
    return state


def _restore(state: TrainingState, checkpoint: dict[str, Any], runtime: Runtime) -> None:
    if "optimizer" in checkpoint:
        state.optimizer.load_state_dict(checkpoint["optimizer"])
    state.iter_num = int(checkpoint["iter_num"])
    state.best_val_loss = float(checkpoint["best_val_loss"])
    saved = checkpoint.get("resume")
    state.saved_resume = saved or None
    if not saved:
        return  # a nanoGPT checkpoint: weights and optimizer only, RNGs start afresh
    torch.set_rng_state(saved["torch_rng"].cpu())
    if saved.get("cuda_rng") is not None and runtime.device_type == "cuda":
        torch.cuda.set_rng_state(saved["cuda_rng"].cpu(), torch.device(runtime.device))
    state.data_rng.set_state(saved["data_rng"].cpu())
    if saved.get("scaler"):
        state.scaler.load_state_dict(saved["scaler"])
    state.last_eval_iter = saved.get("last_eval_iter")
    state.early_stop_best = float(saved.get("early_stop_best", math.inf))
    state.evals_without_improvement = int(saved.get("evals_without_improvement", 0))
    state.budget_spent_s = float(saved.get("budget_spent_s", 0.0))


def checkpoint_payload(
    state: TrainingState,
    cfg: TrainConfig,
    runtime: Runtime,
    *,
    tokenizer_meta: dict[str, Any],
    data_rng_state: torch.Tensor,
    val_loss: float | None,
) -> dict[str, Any]:
    """nanoGPT's checkpoint keys, plus the tokenizer and what exact resume needs, as plain data."""
    cuda_rng = None
    if runtime.device_type == "cuda":
        cuda_rng = torch.cuda.get_rng_state(torch.device(runtime.device))
    return {
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "model_args": dict(state.model_args),
        "iter_num": state.iter_num,
        "best_val_loss": float(state.best_val_loss),
        # the model's real shape (GPT-2's, on a fine-tune) and where its weights came from
        "config": {
            **cfg.to_dict(),
            **{
                k: state.model_args[k]
                for k in ("n_layer", "n_head", "n_embd", "block_size", "bias")
            },
            "init_from": state.weights_from,
            "dataset": Path(cfg.data_dir).name,
        },
        "tokenizer": tokenizer_meta,
        "val_loss": val_loss,
        "resume": {
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": cuda_rng,
            "data_rng": data_rng_state,
            "scaler": state.scaler.state_dict() if state.scaler.is_enabled() else None,
            "last_eval_iter": state.last_eval_iter,
            "early_stop_best": float(state.early_stop_best),
            "evals_without_improvement": state.evals_without_improvement,
            "budget_spent_s": float(state.budget_spent_s),
        },
    }
