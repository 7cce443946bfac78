"""What the browser tests share: where Chromium is, the running studio, the console watcher,
screenshots and the label check (imported by conftest.py and by the tests)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("STUDIO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class Handoffs:
    """Ids one browser test makes for the tests after it (a test marked `provides(name)`
    gives it). A test that needs one fails, never skips, when it is missing: with the error
    of the test that should have made it, or saying that test did not run."""

    def __init__(self) -> None:
        self.values: dict[str, int] = {}
        self.failures: dict[str, str] = {}  # name -> the error of the test that provides it

    def give(self, name: str, value: int) -> None:
        self.values[name] = value

    def get(self, name: str) -> int | None:
        """For a test that makes its own when no earlier test made one."""
        return self.values.get(name)

    def need(self, name: str) -> int:
        if name in self.values:
            return self.values[name]
        if name in self.failures:
            why = f"the test that makes the {name} failed: {self.failures[name]}"
        else:
            why = f"no test made the {name}: run the one marked provides({name!r})"
        pytest.fail(why, pytrace=False)


@dataclass
class Studio:
    """A running `nanogpt-studio serve` and what it printed."""

    login_url: str
    base: str
    token: str
    log: Path
    handoffs: Handoffs = field(default_factory=Handoffs)


def require_chromium() -> None:
    if Path(CHROMIUM).is_file():
        return
    message = f"{CHROMIUM} is missing (apt-get install chromium, or `make browser-deps`)"
    if os.environ.get("STUDIO_REQUIRE_BROWSER") == "1":
        pytest.fail(message + "; required with STUDIO_REQUIRE_BROWSER=1")
    pytest.skip(message)


class Console:
    """Uncaught errors and Content-Security-Policy refusals the watched pages report."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def watch(self, page: object) -> None:
        page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        page.on("console", self._console)

    def _console(self, message: object) -> None:
        text = message.text
        if "Content Security Policy" in text or "Content-Security-Policy" in text:
            self.problems.append(f"CSP: {text}")
        elif message.type == "error" and "Failed to load resource" not in text:
            # An HTTP error status the page handles (401, 415, 422…) is "Failed to load".
            self.problems.append(f"console: {text}")


def new_context(browser: object, studio: Studio, *, signed_in: bool = True, **options: object):
    """A browser profile; signed in by opening the URL serve printed, as a person would."""
    options.setdefault("viewport", {"width": 1280, "height": 900})
    context = browser.new_context(**options)
    context.set_default_timeout(30_000)
    if signed_in:
        page = context.new_page()
        page.goto(studio.login_url)
        page.close()
    return context


def screenshot(page: object, name: str, *, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


_UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter((e) => e.type !== 'hidden' && !(e.labels && e.labels.length)
                 && !e.getAttribute('aria-label'))
  .map((e) => e.name || e.id || e.outerHTML.slice(0, 60))"""


def assert_labelled(page: object) -> None:
    """Every input on the page has a label (or an aria-label)."""
    assert page.evaluate(_UNLABELLED) == []


LONG = 120_000  # ms
TINY = {"n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 8, "batch_size": 2,
        "max_iters": 4, "lr_decay_iters": 4, "warmup_iters": 1, "eval_interval": 4,
        "eval_iters": 1, "log_interval": 1}  # fmt: skip


def a_run_with_a_checkpoint(page: object, studio: Studio, *, timeout_s: float = 120) -> int:
    """The run test_dashboard.py trained when it ran first (it has a ckpt.pt by then);
    else a tiny one trained now through the API on the sample data."""
    made = studio.handoffs.get("run")
    if made is not None:
        return made
    api = studio.base + "/api/v1"
    dataset = page.request.post(f"{api}/datasets/sample")
    assert dataset.ok, dataset.text()
    body = {"dataset_id": dataset.json()["id"], "config": TINY}
    run = page.request.post(f"{api}/runs", data=body)
    assert run.ok, run.text()
    run_id = run.json()["id"]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = page.request.get(f"{api}/runs/{run_id}").json()["state"]
        if state in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.5)
    assert state == "succeeded", state
    return run_id


def dataset_id(page: Any, studio: Studio) -> int:
    """The dataset an earlier test handed on, else the bundled sample."""
    known = studio.handoffs.get("dataset")
    if known is not None:
        return known
    sample = page.request.post(studio.base + "/api/v1/datasets/sample")
    assert sample.ok, sample.text()
    return sample.json()["id"]


def open_form(page: Any, studio: Studio) -> None:
    """The new-run form on that dataset, once its first dry run has answered."""
    with page.expect_response(lambda r: "dry_run=true" in r.url):
        page.goto(f"{studio.base}/runs/new?dataset={dataset_id(page, studio)}")
