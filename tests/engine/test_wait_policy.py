"""How a training or sampling process chooses torch's OpenMP wait policy
(worker/engine/wait_policy.py): PASSIVE while other tasks want the CPUs, libgomp's spinning
default otherwise, and the user's when set."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from worker.engine import wait_policy

SHOW_CHOICE = (
    "import os; from worker.engine.wait_policy import choose_wait_policy; choose_wait_policy(); "
    "print(os.environ['STUDIO_OMP_WAIT_CHOSEN'], os.environ.get('OMP_WAIT_POLICY'))"
)


@pytest.fixture
def busy_cpu() -> Iterator[None]:
    """Another process that is always runnable."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        hog.kill()
        hog.wait()


def test_a_policy_the_user_set_wins(monkeypatch, busy_cpu) -> None:
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    monkeypatch.delenv("STUDIO_OMP_WAIT_CHOSEN", raising=False)
    assert wait_policy.choose_wait_policy() == "ACTIVE"
    assert "OMP_WAIT_POLICY" in wait_policy.unchosen_environment()


def test_threads_wait_passively_while_another_process_runs(monkeypatch, busy_cpu) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("STUDIO_OMP_WAIT_CHOSEN", raising=False)
    assert wait_policy._others_runnable() >= 1
    assert wait_policy.choose_wait_policy() == "PASSIVE"
    # a child process (a run's training process) chooses again, not as its parent did
    child = subprocess.run(
        [sys.executable, "-c", SHOW_CHOICE],
        env={**wait_policy.os.environ, "OMP_WAIT_POLICY": "ACTIVE"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert child.stdout.split() == ["1", "PASSIVE"]
    # another program run from here gets the environment as it was found
    assert "OMP_WAIT_POLICY" not in wait_policy.unchosen_environment()


def test_a_service_process_waits_passively_and_its_children_choose(monkeypatch) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("STUDIO_OMP_WAIT_CHOSEN", raising=False)
    wait_policy.wait_passively()
    assert wait_policy.os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    assert "OMP_WAIT_POLICY" not in wait_policy.unchosen_environment()  # marked: children choose
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    monkeypatch.delenv("STUDIO_OMP_WAIT_CHOSEN")
    wait_policy.wait_passively()
    assert wait_policy.os.environ["OMP_WAIT_POLICY"] == "ACTIVE"  # the user's
