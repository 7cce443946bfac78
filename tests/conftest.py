"""Shared fixtures. The service's real parts (database, broker, API, workers) come from
tests/support/studio_stack.py; each backend (SQLite, and PostgreSQL when STUDIO_TEST_DATABASE_URL
is set) gets its own database, broker and processes for the whole session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from studio_stack import (
    TOKEN,
    Stack,
    broker_url,
    missing,
    own_database,
    reset_database,
    restored_environment,
    use_environment,
)

from worker.engine.wait_policy import choose_wait_policy

PG_URL = os.environ.get("STUDIO_TEST_DATABASE_URL")
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]
# Markers by folder: the tests' place in the tree says what they need.
FOLDER_MARKERS = {"system": "service", "browser": "browser"}
# The session's service stacks, one per backend (below): a test using any of them shares them.
SHARED_STACK_FIXTURES = {"backend", "services", "stack", "api"}
# Short leases so the reaper tests run in seconds.
FAST_JOBS = {
    "STUDIO_STALE_AFTER_S": "6",
    "STUDIO_REAPER_INTERVAL_S": "1",
    "STUDIO_HEARTBEAT_INTERVAL_S": "1",
    "STUDIO_SAMPLE_TIMEOUT_S": "60",
    "STUDIO_TOKEN": TOKEN,
    # Uploads above this are described by a job, so the tests cover that path too.
    "STUDIO_INSPECT_INLINE_BYTES": "200000",
    # Each stack's fresh data directory would time its device again (seconds of both cores,
    # and a plan that moves with the load); tests/jobs/test_speed_probe.py measures it, and
    # tests/api/test_budget_api.py plans with what a worker reports.
    "STUDIO_CALIBRATE": "false",
}


def pytest_configure(config: pytest.Config) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        # Two test processes share the cores: a thread each (and each process they start),
        # so neither's torch waits on the other's threads.
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        own_services(worker)
    # Engine tests train and sample in this process: its threads wait as a training process's
    # do, chosen before any test module loads torch.
    choose_wait_policy()


def own_services(worker: str) -> None:
    """Each xdist worker gets its own PostgreSQL database and Redis database (gw1: `test_gw1`
    and the next Redis db), so stacks in two workers never reset each other's; the groups
    (below) keep most service tests in one worker anyway, to spare the cores."""
    index = int(worker.removeprefix("gw"))
    if index == 0:
        return
    pg = os.environ.get("STUDIO_TEST_DATABASE_URL")
    if pg:
        os.environ["STUDIO_TEST_DATABASE_URL"] = own_database(pg, f"_{worker}")
    redis_url = os.environ.get("STUDIO_TEST_REDIS_URL")
    if redis_url:
        base, _, db = redis_url.rpartition("/")
        os.environ["STUDIO_TEST_REDIS_URL"] = f"{base}/{int(db or 0) + index}"


def database_url(backend: str, data_dir: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{data_dir / 'studio.db'}"
    if not PG_URL:
        missing("PostgreSQL (set STUDIO_TEST_DATABASE_URL)")
    return PG_URL


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def services(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Database (migrated, empty) + broker; this process's settings point at them."""
    data_dir = tmp_path_factory.mktemp(f"studio-{backend}")
    url = database_url(backend, data_dir)
    reset_database(url, with_cli=True, data_dir=data_dir)
    with broker_url(data_dir) as redis_url, restored_environment():
        imports = data_dir / "imports"  # what the service may import (tests put files there)
        imports.mkdir()
        env = {
            **FAST_JOBS,
            "STUDIO_DATA_DIR": str(data_dir),
            "STUDIO_DATABASE_URL": url,
            "STUDIO_REDIS_URL": redis_url,
            "STUDIO_IMPORT_DIRS": str(imports),
        }
        use_environment(env)
        yield env


@pytest.fixture(scope="session")
def stack(services: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The API and both workers, running."""
    use_environment(services)
    stack = Stack(services, tmp_path_factory.mktemp("logs"))
    try:
        stack.start_api()
        stack.start_train_worker()
        stack.start_prepare_worker()
        stack.wait_for_workers(2)
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def api(stack: Stack, services: dict[str, str]) -> Iterator[object]:
    use_environment(services)
    with stack.client() as client:
        yield client


@pytest.fixture(scope="module")
def local_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A SQLite database and an embedded valkey with no workers: jobs wait in the queue."""
    from studio_stack import embedded_broker

    data_dir = tmp_path_factory.mktemp("local")
    url = f"sqlite:///{data_dir / 'studio.db'}"
    reset_database(url)
    with embedded_broker(data_dir / "valkey") as redis_url, restored_environment():
        env = {
            **FAST_JOBS,
            "STUDIO_DATA_DIR": str(data_dir),
            "STUDIO_DATABASE_URL": url,
            "STUDIO_REDIS_URL": redis_url,
        }
        use_environment(env)
        yield env


@pytest.fixture
def client(local_env: dict[str, str]) -> Iterator[object]:
    """The app in this process (TestClient), authenticated with the Bearer token."""
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.store.settings import get_settings

    use_environment(local_env)
    app = create_app(get_settings())
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as test_client:
        yield test_client


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups off the items
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Markers by folder: tests/system/ starts real processes (`service`), tests/browser/
    drives Chromium (`browser`); one backend for a test marked `on_backend`; and groups for
    pytest-xdist (`make test` runs two workers)."""
    kept, elsewhere = [], []
    for item in items:
        (kept if on_its_backend(item) else elsewhere).append(item)
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
        items[:] = kept
    tests = Path(__file__).parent
    for item in items:
        folder = item.path.relative_to(tests).parts[0]
        if folder in FOLDER_MARKERS:
            item.add_marker(FOLDER_MARKERS[folder])
        group = xdist_group(item, folder)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


def on_its_backend(item: pytest.Item) -> bool:
    """A service test runs on every backend's stack, unless it is marked `on_backend(name)`:
    a test of a feature (a tokenizer, sweeps, exports) and not of the store. The store's
    own tests (tests/store/) run every transition on both backends, the lease's flows through
    the service run on both, and the features are spread over the two so each backend serves
    some; without PostgreSQL they run on SQLite."""
    marker = item.get_closest_marker("on_backend")
    callspec = getattr(item, "callspec", None)
    if marker is None or callspec is None or "backend" not in callspec.params:
        return True
    return callspec.params["backend"] == (marker.args[0] if PG_URL else "sqlite")


def xdist_group(item: pytest.Item, folder: str) -> str | None:
    """The tests that must share a worker. Every test on one backend's shared service stack
    (its database and broker: one PostgreSQL database and one Redis database per worker,
    which a second stack in that worker would reset) runs in one worker, in order; the two
    backends' stacks run side by side, one in each worker. The browser tests share one
    worker (and their browser); a system test module that starts its own processes keeps
    its module's fixtures in one worker. Everything else spreads over both."""
    if folder == "browser":
        return "browser"
    if SHARED_STACK_FIXTURES & set(getattr(item, "fixturenames", ())):
        return f"services-{item.callspec.params['backend']}"  # type: ignore[attr-defined]
    if folder == "system":
        return f"system-{item.path.stem}"
    return None


def pytest_collection_finish(session: pytest.Session) -> None:
    """Under `--dist loadgroup` a grouped test's id ends in @group, which is how xdist keeps
    the group in one worker; without it two workers would reset one shared database."""
    if not session.config.getoption("loadgroup", default=False):
        return
    lost = [
        i.nodeid
        for i in session.items
        if i.get_closest_marker("xdist_group") and "@" not in i.nodeid
    ]
    if lost:
        raise pytest.UsageError(f"pytest-xdist did not group {lost[0]} (and {len(lost) - 1} more)")
