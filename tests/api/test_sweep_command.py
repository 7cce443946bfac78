"""`nanogpt-studio sweep` (app/sweep_command.py): the same checks as POST /sweeps, and the
sweep it stores is the API's (no workers here: nothing drives it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def sweep_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "app.commands", "sweep", *args]
    return subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env})


def test_the_cli_starts_a_sweep_the_api_shows(client, local_env):
    dataset = client.post("/api/v1/datasets/sample").json()
    space = json.dumps({"learning_rate": {"choices": [1e-3, 3e-3]}})
    done = sweep_cli(local_env, "--dataset-id", str(dataset["id"]), "--space", space,
                     "--trials", "2", "--budget", "30s", "--no-follow")  # fmt: skip
    assert done.returncode == 0, done.stderr
    sweep_id = int(done.stdout.split()[1].rstrip(":"))
    sweep = client.get(f"/api/v1/sweeps/{sweep_id}").json()
    assert (sweep["trials_total"], sweep["budget_s"], sweep["state"]) == (2, 30, "running")


def test_the_cli_refuses_a_bad_space_naming_the_knob(client, local_env):
    dataset = client.post("/api/v1/datasets/sample").json()
    done = sweep_cli(local_env, "--dataset-id", str(dataset["id"]), "--space",
                     json.dumps({"colour": {"choices": ["red"]}}))  # fmt: skip
    assert done.returncode == 2
    assert "error (space.colour)" in done.stderr
