"""Browser-test fixtures: the app started as `make run` starts it (`nanogpt-studio serve` in a
temporary data directory, on a free port, reading the URL it prints), and Debian's headless
Chromium driven by Playwright. Without /usr/bin/chromium the tests skip, unless
STUDIO_REQUIRE_BROWSER=1 (CI), where they fail."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress

import pytest
from browser_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    REPO,
    Console,
    Studio,
    new_context,
    require_chromium,
)

# Short timings and a small upload limit, so the size check is cheap to exercise.
SERVE_ENV = {
    "STUDIO_MAX_UPLOAD_BYTES": "3000000",
    "STUDIO_HEARTBEAT_INTERVAL_S": "1",
    "STUDIO_SAMPLE_TIMEOUT_S": "60",
    "STUDIO_LOG_LEVEL": "warning",
    "STUDIO_CALIBRATE": "false",  # seconds of both cores; tests/system measures it
}
URL_LINE = re.compile(r"running at (http://\S+/\?token=(\S+))")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "provides(name): the test gives `name` to later tests (Studio.handoffs)"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """A failed test marked provides(name): the tests that need `name` fail with its error."""
    report = yield
    studio = getattr(item, "funcargs", {}).get("studio")
    if report.failed and call.excinfo is not None and isinstance(studio, Studio):
        error = call.excinfo.exconly().splitlines()[0]
        for mark in item.iter_markers("provides"):
            studio.handoffs.failures.setdefault(mark.args[0], error)
    return report


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    require_chromium()
    data_dir = tmp_path_factory.mktemp("studio-browser")
    log = data_dir / "serve.log"
    # serve configures itself: no test database, broker or token leaks in from other tests.
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")}
    env.update(SERVE_ENV)
    command = [str(REPO / ".venv" / "bin" / "nanogpt-studio"), "serve"]
    if not os.access(command[0], os.X_OK):
        command[0] = str(os.path.join(os.path.dirname(sys.executable), "nanogpt-studio"))
    command += ["--data-dir", str(data_dir), "--port", str(_free_port())]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        match = None
        deadline = time.monotonic() + 120
        while match is None and time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"serve exited with {process.returncode}; see {log}")
            match = URL_LINE.search(log.read_text(errors="replace"))
            time.sleep(0.2)
        if match is None:
            raise RuntimeError(f"serve printed no URL in 120 s; see {log}")
        url = match.group(1)
        yield Studio(login_url=url, base=url.split("/?")[0], token=match.group(2), log=log)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: serve stops its children
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="session")
def browser(studio: Studio) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def page(browser: object, studio: Studio, console: Console) -> Iterator[object]:
    """A signed-in tab; the test fails on an uncaught error or a CSP refusal in it."""
    context = new_context(browser, studio)
    tab = context.new_page()
    console.watch(tab)
    yield tab
    context.close()
    assert not console.problems, console.problems
