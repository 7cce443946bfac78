"""`serve`: embedded valkey + SQLite + API + workers from one command, and a clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from studio_stack import REPO, free_port


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


def start_serve(data_dir: Path, port: int, **env: str) -> subprocess.Popen:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")}
    return subprocess.Popen(
        [sys.executable, "-m", "app.commands", "serve", "--data-dir", str(data_dir),
         "--port", str(port)],
        cwd=REPO, env={**clean, **env}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip


def wait_healthy(base: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    health: dict = {}
    while time.monotonic() < deadline:
        try:
            health = httpx.get(base + "/health").json()
        except httpx.HTTPError:
            health = {}
        if health.get("workers") == 2 and health.get("broker"):
            return health
        time.sleep(0.5)
    raise AssertionError(f"serve did not become healthy: {health}")


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_serve_starts_everything_and_stops_without_orphans(tmp_path):
    port = free_port()
    serve = start_serve(tmp_path, port)
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
        assert health == {
            "status": "ok",
            "database": True,
            "broker": True,
            "workers": 2,
            "reason": None,
        }
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


TINY = {"n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 16, "batch_size": 4,
        "max_iters": 600, "lr_decay_iters": 600, "warmup_iters": 2, "eval_interval": 50,
        "eval_iters": 2, "log_interval": 1, "device": "cpu", "compile": False,
        "gradient_accumulation_steps": 1}  # fmt: skip


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_the_embedded_broker_killed_mid_run_is_restarted_and_nothing_is_lost(tmp_path):
    """kill -9 of valkey while a run trains and a client follows it: serve starts valkey
    again from its append-only file on the same port; the run finishes; every point is
    stored once and reaches the SSE client."""
    from sse_client import until_done
    from studio_stack import TOKEN

    port = free_port()
    # A wake-up lost in the outage is sent again within seconds here (defaults: 15 + 30 s).
    fast = {"STUDIO_REAPER_INTERVAL_S": "1", "STUDIO_RESEND_AFTER_S": "2"}
    serve = start_serve(tmp_path, port, STUDIO_TOKEN=TOKEN, **fast)
    base = f"http://127.0.0.1:{port}/api/v1"
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    try:
        wait_healthy(base)
        import redis

        valkey_dir = tmp_path / "valkey"
        pid = int((valkey_dir / "valkey.pid").read_text())
        broker_url = _broker_url(serve.pid)
        redis.Redis.from_url(broker_url).set("studio:test:survives", "yes")
        dataset = api.post("/datasets/sample").json()
        run = api.post(
            "/runs", json={"dataset_id": dataset["id"], "tokenizer": "char", "config": TINY}
        ).json()
        followed: list = []
        reader = threading.Thread(
            target=lambda: followed.append(until_done(api, f"/runs/{run['id']}/metrics/stream"))
        )
        reader.start()
        deadline = time.monotonic() + 120
        while api.get(f"/runs/{run['id']}").json()["iter"] < 20:
            assert time.monotonic() < deadline, "the run did not start"
            time.sleep(0.2)
        time.sleep(1.2)  # the AOF is fsynced every second
        os.kill(pid, signal.SIGKILL)
        at_kill = api.get(f"/runs/{run['id']}").json()
        assert at_kill["state"] == "running" and at_kill["iter"] < 600, at_kill
        short = {**TINY, "max_iters": 20, "lr_decay_iters": 20, "eval_interval": 10}
        during = api.post(
            "/runs", json={"dataset_id": dataset["id"], "tokenizer": "char", "config": short}
        )
        assert during.status_code == 201, during.text  # stored, and sent once it can be
        reader.join(timeout=180)
        assert followed, "the SSE client never got its done event"
        events, done = followed[0]
        assert done.data["state"] == "succeeded"
        wait_healthy(base, timeout=60)
        new_pid = int((valkey_dir / "valkey.pid").read_text())
        assert new_pid != pid  # a new valkey, on the old port, with the old data
        assert redis.Redis.from_url(broker_url).get("studio:test:survives") == b"yes"
        points = api.get(f"/runs/{run['id']}/metrics").json()["points"]
        assert [p["iter"] for p in points] == list(range(601))  # each point once
        assert [e.data["iter"] for e in events] == list(range(601))  # and all of them live
        deadline = time.monotonic() + 120
        later = api.get(f"/runs/{during.json()['id']}").json()
        while later["state"] not in ("succeeded", "failed", "cancelled"):
            assert time.monotonic() < deadline, f"the run posted during the outage: {later}"
            time.sleep(0.5)
            later = api.get(f"/runs/{during.json()['id']}").json()
        assert later["state"] == "succeeded" and later["iter"] == 20
    finally:
        api.close()
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=120)


def _broker_url(serve_pid: int) -> str:
    """The broker URL serve handed its children."""
    for pid in descendants(serve_pid):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for entry in environ:
            if entry.startswith(b"STUDIO_REDIS_URL="):
                return entry.split(b"=", 1)[1].decode()
    raise AssertionError("no child of serve has STUDIO_REDIS_URL")
