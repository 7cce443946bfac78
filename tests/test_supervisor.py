"""`serve`: embedded valkey + SQLite + API + workers from one command, and a clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from studio_stack import REPO, free_port

pytestmark = pytest.mark.service


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_serve_starts_everything_and_stops_without_orphans(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")}
    serve = subprocess.Popen(
        [sys.executable, "-m", "app.commands", "serve", "--data-dir", str(tmp_path),
         "--port", str(port)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        url_line = ""
        while time.monotonic() < deadline and "?token=" not in url_line:
            url_line = serve.stdout.readline()
        token = (tmp_path / "token").read_text().strip()
        assert url_line.strip().endswith(f"http://127.0.0.1:{port}/?token={token}")
        base = f"http://127.0.0.1:{port}/api/v1"
        while time.monotonic() < deadline:
            health = httpx.get(base + "/health").json()
            if health["workers"] == 2:
                break
            time.sleep(0.5)
        assert health == {"status": "ok", "database": True, "broker": True, "workers": 2}
        runs = httpx.get(base + "/runs", headers={"Authorization": f"Bearer {token}"})
        assert runs.status_code == 200
        assert (tmp_path / "studio.db").is_file()
        assert (tmp_path / "valkey" / "appendonlydir").is_dir()  # AOF on
        family = descendants(serve.pid)
        assert len(family) >= 4  # valkey, api, two workers (and their pools)
    finally:
        serve.send_signal(signal.SIGTERM)
        code = serve.wait(timeout=120)
    assert code == 0
    time.sleep(0.5)
    assert [pid for pid in family if alive(pid)] == []
