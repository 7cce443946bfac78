"""Start the service's real parts for a benchmark: SQLite (or a given URL), an embedded
valkey, the API and, when asked, the workers, each as a subprocess."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx

from bench._machine import machine, vm_kib

__all__ = ["machine"]  # the scripts take it from here

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token-0123456789"  # STUDIO_TOKEN needs 16 characters or more


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_bytes(pid: int, field: str = "VmRSS") -> int:
    return vm_kib(field, pid) * 1024


class Service:
    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api/v1"
        self.procs: dict[str, subprocess.Popen] = {}

    def spawn(self, name: str, *args: str) -> subprocess.Popen:
        log = (self.data_dir / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.commands", *args],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=600, **kwargs
        )

    def wait_ready(self, workers: int = 0) -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            with suppress(httpx.HTTPError):
                if httpx.get(self.url + "/health", timeout=2).json()["workers"] >= workers:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"service not ready; logs in {self.data_dir}")


@contextmanager
def service(
    *, workers: bool, database_url: str | None = None, **extra_env: str
) -> Iterator[Service]:
    from app.embedded_valkey import start_valkey

    with tempfile.TemporaryDirectory(prefix="studio-bench-") as tmp:
        data_dir = Path(tmp)
        valkey = start_valkey(data_dir / "valkey")
        url = database_url or f"sqlite:///{data_dir / 'studio.db'}"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")},
            "STUDIO_DATA_DIR": str(data_dir),
            "STUDIO_DATABASE_URL": url,
            "STUDIO_REDIS_URL": valkey.connection_url + "/0",
            "STUDIO_TOKEN": TOKEN,
            "STUDIO_LOG_LEVEL": "warning",
            **extra_env,
        }
        # the deployer's step: migrations, and the deployment id the workers check
        subprocess.run([sys.executable, "-m", "app.commands", "migrate"], env=env, check=True)
        svc = Service(data_dir, env)
        try:
            svc.spawn("api", "api", "--port", str(svc.port))
            if workers:
                svc.spawn("train", "worker", "--queues", "train", "--concurrency", "1")
                svc.spawn("prepare", "worker", "--queues", "prepare,sample", "--concurrency", "1")
            svc.wait_ready(2 if workers else 0)
            yield svc
        finally:
            for proc in svc.procs.values():
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
            for proc in svc.procs.values():
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
            valkey.stop()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]
