"""A run's optimizer: AdamW as nanoGPT configures it, or Muon + AdamW as nanochat does.

`optimizer=muon`: torch.optim.Muon (orthogonalised momentum, Newton-Schulz) for the hidden
matrices — every 2-D weight inside the transformer blocks — and AdamW for the rest: the
token embedding, the head, and any vector (biases, norm weights). Each group carries an
`lr_scale`; the training loop sets `lr = schedule(it) * lr_scale`, so warmup and decay
shape every group alike and `learning_rate` is the Muon (matrix) rate.

Learning rates start from nanochat's base_train.py: matrix (Muon) 0.02, embedding 0.2,
unembedding (head) 0.004, Adam betas (0.8, 0.95), and AdamW rates scaled by
(n_embd / 768) ** -0.5. As ratios to the matrix rate: embedding 10×, head 0.2×; vectors
(which the modern model does not have) take the matrix rate. weight_decay applies to the
Muon matrices only (nanochat uses none on the embedding and head).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn as nn

from worker.engine.config.train_config import TrainConfig
from worker.engine.device import cpu_has_native_bf16
from worker.engine.training.muon_cpu import CpuMuon

EMBEDDING_LR_RATIO = 10.0  # nanochat: embedding_lr 0.2 / matrix_lr 0.02
HEAD_LR_RATIO = 0.2  # nanochat: unembedding_lr 0.004 / matrix_lr 0.02
ADAM_BETAS = (0.8, 0.95)  # nanochat's AdamW betas beside Muon
MUON_MOMENTUM = 0.95


def build_optimizer(model: nn.Module, cfg: TrainConfig, device_type: str) -> Any:
    """The optimizer cfg.optimizer_name names, for this model."""
    if cfg.optimizer_name == "muon":
        return MuonWithAdamW(model, cfg, device_type=device_type)
    return adamw(model, cfg, device_type)


def adamw(model: nn.Module, cfg: TrainConfig, device_type: str) -> torch.optim.AdamW:
    """nanoGPT's AdamW: matrices (embeddings, Linear weights) decay, biases and norms do not."""
    params = [p for p in _unique(model.parameters()) if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    # The fused kernel is one launch for all parameters; it exists for CUDA and CPU.
    fused = device_type in ("cuda", "cpu")
    betas = (cfg.beta1, cfg.beta2)
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=betas, fused=fused)


def muon_groups(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """Parameters by role: hidden matrices (Muon), embeddings, head, vectors (AdamW).

    Hidden matrices are the 2-D weights inside the blocks (`transformer.h.*`); a tied
    embedding/head tensor (the gpt2 arch) counts once, as the embedding.
    """
    roles = ("matrix", "embedding", "head", "vector")
    groups: dict[str, list[nn.Parameter]] = {role: [] for role in roles}
    seen: set[int] = set()
    for name, param in model.named_parameters():  # named_parameters lists a tied tensor once
        if not param.requires_grad or id(param) in seen:
            continue
        seen.add(id(param))
        if param.dim() < 2:
            groups["vector"].append(param)
        elif name.startswith("transformer.h."):
            groups["matrix"].append(param)
        elif name.startswith("lm_head."):
            groups["head"].append(param)
        else:  # wte, wpe
            groups["embedding"].append(param)
    return groups


class MuonWithAdamW:
    """Muon for the hidden matrices and AdamW for the rest, stepped as one optimizer.

    It has what the loop, GradScaler and checkpoints use: `param_groups` (both optimizers'
    groups, each with its `lr_scale`), `step`, `zero_grad`, `state_dict`, `load_state_dict`.
    """

    def __init__(self, model: nn.Module, cfg: TrainConfig, *, device_type: str) -> None:
        roles = muon_groups(model)
        assert roles["matrix"], "Muon needs hidden matrices"
        width_scale = (getattr(model.config, "n_embd", 768) / 768) ** -0.5
        # torch's Muon orthogonalises in bf16, which a CPU without bf16 hardware crawls
        # through; CpuMuon is the same update batched by shape, in float32 there and in
        # bf16 where the CPU has it (muon_cpu.py, measured there).
        muon_groups_ = [{"params": roles["matrix"], "lr_scale": 1.0}]
        common = {"lr": cfg.learning_rate, "weight_decay": cfg.weight_decay,
                  "momentum": MUON_MOMENTUM}  # fmt: skip
        if device_type == "cpu":
            ns_dtype = torch.bfloat16 if cpu_has_native_bf16() else torch.float32
            self.muon: torch.optim.Muon = CpuMuon(muon_groups_, ns_dtype=ns_dtype, **common)
        else:
            self.muon = torch.optim.Muon(muon_groups_, **common)
        adam_groups = [
            {"params": roles["embedding"], "lr_scale": EMBEDDING_LR_RATIO * width_scale},
            {"params": roles["head"], "lr_scale": HEAD_LR_RATIO * width_scale},
            {"params": roles["vector"], "lr_scale": 1.0},
        ]
        self.adamw = torch.optim.AdamW(
            [g for g in adam_groups if g["params"]],
            lr=cfg.learning_rate,
            betas=ADAM_BETAS,
            eps=1e-10,
            weight_decay=0.0,
            fused=device_type in ("cuda", "cpu"),
        )

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return [*self.muon.param_groups, *self.adamw.param_groups]

    @property
    def state(self) -> dict[Any, Any]:
        return {**self.muon.state, **self.adamw.state}

    def step(self) -> None:
        self.muon.step()
        self.adamw.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.muon.zero_grad(set_to_none=set_to_none)
        self.adamw.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return {"muon": self.muon.state_dict(), "adamw": self.adamw.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.muon.load_state_dict(state["muon"])
        self.adamw.load_state_dict(state["adamw"])


def _unique(params: Iterable[nn.Parameter]) -> list[nn.Parameter]:
    seen: set[int] = set()
    out = []
    for p in params:
        if id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    return out
