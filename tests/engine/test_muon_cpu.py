"""CpuMuon (worker/engine/training/muon_cpu.py) is torch.optim.Muon's update, batched by shape: in
bf16 it matches torch's own step, in float32 it is within bf16's rounding of it, and its
state moves to torch's class."""

from __future__ import annotations

import torch

from worker.engine.training.muon_cpu import CpuMuon

SHAPES = [(48, 16), (48, 16), (16, 64), (32, 32)]  # two of one shape: batched together


def _stepped(make, steps: int = 3) -> tuple[list[torch.Tensor], torch.optim.Optimizer]:
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(shape)) for shape in SHAPES]
    optimizer = make(params)
    grads = torch.Generator().manual_seed(1)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=grads)
        optimizer.step()
    return [p.detach() for p in params], optimizer


def test_cpu_muon_is_torch_s_update() -> None:
    options = {"lr": 0.02, "weight_decay": 0.01, "momentum": 0.95}
    torch_s, reference = _stepped(lambda ps: torch.optim.Muon(ps, **options))
    bf16, _ = _stepped(lambda ps: CpuMuon(ps, ns_dtype=torch.bfloat16, **options))
    fp32, ours = _stepped(lambda ps: CpuMuon(ps, **options))
    for a, b, c in zip(torch_s, bf16, fp32, strict=True):
        assert torch.allclose(a, b, atol=1e-6), (a - b).abs().max()
        assert torch.allclose(a, c, atol=2e-3), (a - c).abs().max()  # bf16's rounding only
        assert b.dtype == c.dtype == torch.float32
    moved = torch.optim.Muon(list(reference.param_groups[0]["params"]), **options)
    moved.load_state_dict(ours.state_dict())  # a checkpoint moves between the two
    assert moved.state_dict()["state"].keys() == ours.state_dict()["state"].keys()
