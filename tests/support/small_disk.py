"""Real small disks for the disk-full tests: tmpfs mounts (root only; skipped, or failed
with STUDIO_REQUIRE_SERVICES=1, elsewhere)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from studio_stack import missing


def mount_small_disk(where: Path, size: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        missing(f"a tmpfs mount (needs root): {done.stderr.strip()}")


def unmount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill the disk but for `leave` bytes; returns the filler file (delete it to free)."""
    filler = disk / "filler"
    filler.write_bytes(b"\0" * max(0, shutil.disk_usage(disk).free - leave))
    return filler
