"""A broker that cannot persist: the embedded valkey's data directory on a real 2 MB tmpfs,
filled to 0 bytes, so valkey answers MISCONF to every write. /health says degraded and why,
/system and the home page name it, what needs the broker is a 503, the worker waits instead
of crashing, and once the disk has room the wake-up sent meanwhile is done."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from small_disk import fill, mount_small_disk, unmount
from studio_rows import make_run
from studio_stack import TOKEN, Stack, assert_error, reset_database, use_environment

from app.embedded_valkey import start_valkey
from app.store.settings import get_settings

SHAKESPEARE = Path(__file__).resolve().parents[2] / "app" / "sample_data" / "tinyshakespeare.txt"


def until(what, timeout: float = 60.0, every: float = 0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what.__doc__ or what}")


@pytest.fixture
def full_disk_stack(tmp_path: Path) -> Iterator[tuple[Stack, Path, str]]:
    disk = tmp_path / "broker-disk"
    mount_small_disk(disk, "2m")
    valkey = start_valkey(disk / "valkey")
    try:
        data = tmp_path / "data"
        url = f"sqlite:///{tmp_path / 'studio.db'}"
        reset_database(url, with_cli=True, data_dir=data)
        env = {
            "STUDIO_DATA_DIR": str(data),
            "STUDIO_DATABASE_URL": url,
            "STUDIO_REDIS_URL": valkey.connection_url + "/0",
            "STUDIO_TOKEN": TOKEN,
            "STUDIO_REAPER_INTERVAL_S": "1",
            "STUDIO_INSPECT_INLINE_BYTES": "100000",  # the upload below is a job's work
        }
        use_environment(env)
        stack = Stack(env, tmp_path)
        try:
            stack.start_api()
            stack.start_prepare_worker()
            stack.wait_for_workers(1)
            yield stack, disk, env["STUDIO_REDIS_URL"]
        finally:
            stack.stop()
    finally:
        valkey.stop()
        unmount(disk)


def test_a_broker_that_cannot_persist_is_reported_and_waited_out(full_disk_stack, tmp_path):
    stack, disk, broker_url = full_disk_stack
    filler = fill(disk)
    broker = redis.Redis.from_url(broker_url)

    def refused() -> bool:
        """valkey refusing writes (it takes a few into memory before it says MISCONF)"""
        try:
            broker.set("filling", "x" * 4096)
        except redis.ResponseError as exc:
            return str(exc).startswith("MISCONF")
        return False

    until(refused, timeout=30)
    with stack.client() as api:
        health = httpx.get(stack.url + "/api/v1/health").json()
        assert health["status"] == "degraded" and health["broker"] is False
        assert "MISCONF" in health["reason"] and "refuses writes" in health["reason"]
        system = api.get("/system")
        assert system.status_code == 200, system.text
        assert "MISCONF" in system.json()["broker_problem"]
        with httpx.Client(base_url=stack.url, follow_redirects=True) as browser:
            home = browser.get(f"/?token={TOKEN}")
        assert home.status_code == 200 and "data-broker-problem" in home.text  # from /system

        run_id = make_run(state="succeeded")
        ckpt = get_settings().run_dir(run_id) / "ckpt.pt"
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        ckpt.write_bytes(b"not read: the request stops at the broker")
        error = assert_error(
            api.post(f"/runs/{run_id}/samples", json={"prompt": "a"}), 503, "broker_unavailable"
        )
        assert "MISCONF" in error["message"]

        # An upload during the outage is stored; its wake-up cannot be sent yet.
        text = SHAKESPEARE.read_bytes()[:150_000]
        dataset = api.post("/datasets", files={"file": ("s.txt", text, "text/plain")}).json()
        assert dataset["state"] == "inspecting"

        log = tmp_path / "prepare.log"

        def waiting() -> bool:
            """the worker's log saying it waits for the broker to take writes"""
            return "refuses writes" in log.read_text(errors="replace")

        until(waiting, timeout=60)
        time.sleep(3)  # a crashed consumer would have ended the process by now
        assert stack.processes["prepare"].poll() is None, log.read_text()[-3000:]
        assert "Unrecoverable error" not in log.read_text(errors="replace")

        filler.unlink()  # room again: valkey writes its file, the worker reconnects

        def inspected() -> bool:
            """the upload's wake-up re-sent and done"""
            return api.get(f"/datasets/{dataset['id']}").json()["state"] == "ready"

        until(inspected, timeout=120)
        health = httpx.get(stack.url + "/api/v1/health").json()
        assert health["broker"] is True and health["reason"] is None
        assert api.get("/system").json()["broker_problem"] is None
