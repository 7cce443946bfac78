"""Several processes training one model (PyTorch DDP under torchrun), as nanoGPT does it.

torchrun (`--standalone --nproc_per_node=N`) starts N copies of the training program and sets
RANK, LOCAL_RANK and WORLD_SIZE in each; `from_env` reads them, as nanoGPT's train.py does.
Without them a run is one process and nothing here talks to anyone.

What the ranks must agree on goes through a small gloo group of CPU tensors (`RankGroup`):
whether to stop (cancel, Ctrl-C, SIGTERM reach any rank, and every rank stops at the same
step) and, before a checkpoint, every rank's random-number states (so a resume on the same
number of ranks draws exactly the batches it would have drawn). On CUDA the gradients go
through NCCL; the flags stay on gloo so asking "stop?" never waits for the GPU.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import torch

from worker.engine.errors import ConfigError
from worker.engine.training.ranks import Ranks, from_env, steps_per_rank

__all__ = ["RankGroup", "Ranks", "from_env", "rank_device", "seed_rank", "steps_per_rank"]

# How long a collective may wait for the other ranks: rank 0 evaluates and checkpoints alone
# while the others wait in their next collective, so this bounds an evaluation's length.
COLLECTIVE_TIMEOUT = timedelta(minutes=30)


def rank_device(device: str, ranks: Ranks) -> str:
    """Each rank's device: `cuda:<local rank>` among the GPUs the run was given
    (CUDA_VISIBLE_DEVICES), or the CPU; the config's device may not pin one GPU."""
    if not ranks.several:
        return device
    kind = device.split(":")[0]
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "mps":
        raise ConfigError("several processes need CUDA GPUs or the CPU, not mps", field="device")
    if ":" in device:
        raise ConfigError(
            f"device {device!r} names one GPU, but the run has {ranks.world_size} processes; "
            "use device=cuda (each process takes its own GPU)",
            field="device",
        )
    if kind == "cuda":
        count = torch.cuda.device_count()
        if ranks.local_rank >= count:
            raise ConfigError(
                f"process {ranks.local_rank} has no GPU: {count} visible for "
                f"{ranks.world_size} processes",
                field="device",
            )
        return f"cuda:{ranks.local_rank}"
    return "cpu"


def rng_states(data_rng: torch.Tensor, device: str) -> dict[str, torch.Tensor | None]:
    """One rank's random-number states as a checkpoint keeps them."""
    cuda = None
    if device.startswith("cuda"):
        cuda = torch.cuda.get_rng_state(torch.device(device))
    return {"torch_rng": torch.get_rng_state(), "cuda_rng": cuda, "data_rng": data_rng}


class RankGroup:
    """The process group of a multi-process run, or a stand-in for one process that never
    communicates (so the training loop reads the same either way)."""

    def __init__(self, ranks: Ranks, device: str) -> None:
        self.ranks = ranks
        self.device = device
        self._control: Any = None
        if not ranks.several:
            return
        import torch.distributed as dist

        backend = "nccl" if device.startswith("cuda") else "gloo"
        if device.startswith("cuda"):
            torch.cuda.set_device(torch.device(device))
        dist.init_process_group(backend=backend, timeout=COLLECTIVE_TIMEOUT)
        # flags and RNG states: CPU tensors, so gloo, even beside NCCL
        self._control = dist.new_group(backend="gloo", timeout=COLLECTIVE_TIMEOUT)

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The module the training steps call: DDP over every rank, or the model itself."""
        if not self.ranks.several:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [torch.device(self.device).index] if self.device.startswith("cuda") else None
        return DistributedDataParallel(model, device_ids=ids)

    def agree(self, asked: bool) -> bool:
        """True on every rank when any rank asks (a collective: every rank calls it at the
        same point of the loop)."""
        if not self.ranks.several:
            return asked
        import torch.distributed as dist

        flag = torch.tensor([1 if asked else 0], dtype=torch.int32)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self._control)
        return bool(flag.item())

    def gather_rngs(self, states: dict[str, torch.Tensor | None]) -> list[dict[str, Any]]:
        """Every rank's RNG states, in rank order, on every rank (tiny: ~10 kB a rank)."""
        if not self.ranks.several:
            return [states]
        import torch.distributed as dist

        parts = [states["data_rng"], states["torch_rng"]]
        if states["cuda_rng"] is not None:
            parts.append(states["cuda_rng"])
        sizes = [int(p.numel()) for p in parts]
        flat = torch.cat([p.to(torch.uint8).flatten() for p in parts])
        gathered = [torch.empty_like(flat) for _ in range(self.ranks.world_size)]
        dist.all_gather(gathered, flat, group=self._control)
        out = []
        for tensor in gathered:
            pieces = list(torch.split(tensor, sizes))
            out.append(
                {
                    "data_rng": pieces[0].clone(),
                    "torch_rng": pieces[1].clone(),
                    "cuda_rng": pieces[2].clone() if len(pieces) > 2 else None,
                }
            )
        return out

    def close(self) -> None:
        if not self.ranks.several:
            return
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def seed_rank(
    *,
    ranks: Ranks,
    seed: int,
    iter_num: int,
    data_rng: torch.Generator,
    saved: dict[str, Any] | None,
    device: str,
) -> str:
    """Give a rank other than 0 its own random numbers: its states from the checkpoint when it
    was written by as many ranks (exact resume), else fresh ones from (seed, rank, iteration).
    Rank 0 keeps what `build_training_state` gave it, so one process is exactly one process.
    Returns how this rank was seeded, for the log."""
    if ranks.rank == 0:
        return "rank 0"
    rank_states = (saved or {}).get("ranks") or []
    if saved and saved.get("world_size") == ranks.world_size and len(rank_states) >= ranks.rank:
        states = rank_states[ranks.rank - 1]
        torch.set_rng_state(states["torch_rng"].cpu())
        if states.get("cuda_rng") is not None and device.startswith("cuda"):
            torch.cuda.set_rng_state(states["cuda_rng"].cpu(), torch.device(device))
        data_rng.set_state(states["data_rng"].cpu())
        return "restored"
    # dropout and batches differ between ranks; a resume on another world size starts the
    # ranks' streams afresh from where the run is, never replaying the first batches
    mixed = (seed + 1_000_003 * iter_num + 7_919 * ranks.rank) % (2**63)
    torch.manual_seed(mixed)
    data_rng.manual_seed(mixed + 1)
    return "fresh"
