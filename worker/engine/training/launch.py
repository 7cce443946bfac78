"""How a run of several processes is started: torchrun's command, as nanoGPT's README has it.

We start `python -m torch.distributed.run --standalone --nproc_per_node=N -m <module> ...` as a
child process rather than calling the elastic launcher as a library: the command is the one
users already run by hand, the process that calls it (the CLI, a Celery worker) never imports
torch, and torchrun's agent does what a group needs: a free rendezvous port per run, RANK /
LOCAL_RANK / WORLD_SIZE in each rank, and when one rank dies, the others stopped (SIGTERM,
then SIGKILL) and a non-zero exit.
"""

from __future__ import annotations

import sys

# How often torchrun's agent looks at its ranks: a dead rank ends the group this soon.
MONITOR_INTERVAL_S = 0.5


def torchrun_command(nproc: int, module: str, args: list[str]) -> list[str]:
    """The command that runs `python -m module args` as `nproc` DDP ranks on this machine."""
    assert nproc >= 1, nproc
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        f"--monitor-interval={MONITOR_INTERVAL_S}",
        "--max-restarts=0",  # a failed rank fails the attempt; the studio decides what next
        "-m",
        module,
        *args,
    ]
