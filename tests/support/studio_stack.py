"""Real service parts for the tests: a database, a Redis-protocol broker, the API and Celery
workers as subprocesses. Used by conftest.py's fixtures."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest
from compose_file import service_command

REPO = Path(__file__).resolve().parents[2]
TOKEN = "test-token-0123456789"
REQUIRE = os.environ.get("STUDIO_REQUIRE_SERVICES") == "1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def missing(what: str) -> None:
    """A missing PostgreSQL/Redis fails the run in CI and skips elsewhere."""
    if REQUIRE:
        pytest.fail(f"{what} is required (STUDIO_REQUIRE_SERVICES=1)")
    pytest.skip(f"{what} not available")


def reset_database(url: str, *, with_cli: bool = False, data_dir: Path | None = None) -> None:
    """Empty schema, then every migration: each session starts from scratch. `with_cli`:
    migrate as production does, with compose's `migrate` command in a process of its own,
    which also marks `data_dir` as this deployment's (the workers check it)."""
    from sqlalchemy import text

    from app.store.db import make_engine
    from app.store.migrate import upgrade
    from app.store.models import Base

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            Base.metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    except Exception as exc:
        engine.dispose()
        missing(f"database {url.split('@')[-1]} ({exc.__class__.__name__})")
    engine.dispose()
    if not with_cli:
        upgrade(url)
        return
    assert data_dir is not None, "the migrate command marks a data directory"
    done = subprocess.run(
        [sys.executable, "-m", "app.commands", *service_command("migrate")],
        cwd=REPO,
        env={**os.environ, "STUDIO_DATABASE_URL": url, "STUDIO_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def own_database(url: str, suffix: str) -> str:
    """`url` with its database name suffixed, the database made when missing (a missing
    server is left for the tests to find: they skip, or fail in CI)."""
    from sqlalchemy import make_url, text

    from app.store.db import make_engine

    parsed = make_url(url)
    name = f"{parsed.database}{suffix}"
    engine = make_engine(parsed.set(database="postgres").render_as_string(hide_password=False))
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if found.scalar() is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception:
        pass
    finally:
        engine.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


@contextmanager
def restored_environment() -> Iterator[None]:
    """Put STUDIO_* back as it was, so other tests never see our services' settings."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("STUDIO_")}
    try:
        yield
    finally:
        for key in [k for k in os.environ if k.startswith("STUDIO_")]:
            del os.environ[key]
        os.environ.update(saved)
        from app.store.db import reset_db
        from app.store.settings import get_settings

        get_settings.cache_clear()
        reset_db()


def use_environment(env: dict[str, str]) -> None:
    """Point this process's settings and database at a stack."""
    from app.store.db import reset_db
    from app.store.settings import get_settings

    os.environ.update(env)
    get_settings.cache_clear()
    reset_db()


class Stack:
    """API + workers as subprocesses, sharing env with this test process."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: dict[str, subprocess.Popen] = {}

    def _spawn(self, name: str, *args: str) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "app.commands", *args],
            cwd=REPO,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=log,
            start_new_session=True,
        )

    def start_api(self) -> None:
        self._spawn("api", "api", "--port", str(self.port))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/api/v1/health", timeout=2)
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("the API did not start; see " + str(self.logs / "api.log"))

    # The workers run exactly docker-compose.yml's commands: the production topology, as
    # plain processes.
    def start_train_worker(self) -> None:
        self._spawn("train", *service_command("worker-train"))

    def start_prepare_worker(self) -> None:
        self._spawn("prepare", *service_command("worker-prepare-sample"))

    def wait_for_workers(self, count: int, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            health = httpx.get(self.url + "/api/v1/health", timeout=5).json()
            if health["workers"] >= count:
                return
            time.sleep(0.3)
        raise RuntimeError(f"fewer than {count} workers reported in")

    def kill(self, name: str) -> None:
        """SIGKILL a process and everything it started (a lost machine, in effect)."""
        process = self.processes.pop(name)
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        for process in list(self.processes.values()):
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for name, process in list(self.processes.items()):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill(name)
        self.processes.clear()

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url + "/api/v1",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=60,
        )


@contextmanager
def embedded_broker(data_dir: Path) -> Iterator[str]:
    from app.embedded_valkey import start_valkey

    server = start_valkey(data_dir)
    try:
        yield server.connection_url + "/0"
    finally:
        server.stop()


@contextmanager
def broker_url(tmp: Path) -> Iterator[str]:
    """STUDIO_TEST_REDIS_URL (a Redis server, emptied first) or an embedded valkey."""
    url = os.environ.get("STUDIO_TEST_REDIS_URL")
    if not url:
        with embedded_broker(tmp / "valkey") as embedded:
            yield embedded
        return
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).flushdb()
    except redis.RedisError as exc:
        missing(f"Redis at {url} ({exc.__class__.__name__})")
    yield url


def assert_error(response: object, status: int, code: str | None = None, field: str | None = None):
    """The one error shape: {"error": {"code", "message", "field", "errors"}}, where `errors`
    lists every problem and starts with the error's own (a validation error's message joins
    them all); `choices` only where the caller must pick a value."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) - {"choices"} == {"code", "message", "field", "errors"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    problems = body["error"]["errors"]
    assert problems and all(set(p) == {"code", "message", "field"} for p in problems), body
    assert problems[0]["field"] == body["error"]["field"], body
    assert body["error"]["message"].startswith(problems[0]["message"]), body
    if code is not None:
        assert body["error"]["code"] == code, body
    if field is not None:
        assert body["error"]["field"] == field, body
    return body["error"]


def training_process_pid(run_id: int) -> int | None:
    """The pid of run `run_id`'s training process, found by its command line."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"worker.jobs.training_process" in argv and str(run_id).encode() in argv:
            return int(entry.name)
    return None
