"""One verdict for every client (issue 19): the same knobs give the same errors and warnings
through the API, its dry run, the form's call (the dry run with the body the page sends) and
`nanogpt-studio train --dry-run`, every error at once, the memory guard's included. The API
guards memory against a train worker's 2 GiB CPU and the CLI against this machine's; the
cases' models either fit both easily or fit neither at any size, so the verdicts agree."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.store.settings import get_settings

PRESET = "tiny-cpu"
# name: (knobs, error fields, warning fields)
CASES: dict[str, tuple[dict[str, object], list[str], list[str]]] = {
    "only max_iters": ({"max_iters": 300}, [], []),
    "a short run with the preset's warmup": (
        {"max_iters": 60, "lr_decay_iters": 60},
        [],
        ["eval_interval"],
    ),
    "an odd schedule": (
        {"max_iters": 50, "warmup_iters": 100, "lr_decay_iters": 2000, "eval_interval": 250},
        [],
        ["warmup_iters", "lr_decay_iters", "eval_interval"],
    ),
    "two wrong knobs": ({"n_embd": 65, "dropout": 1.5}, ["n_embd", "dropout"], []),
    "no learning rate": ({"learning_rate": 0}, ["learning_rate"], []),
    # ~840 TB: the shape's errors and the memory guard's, at once (a block_size longer than
    # the data would be one more, but the API's split sizes are estimates until prepared)
    "a model no device holds": (
        {"n_layer": 1024, "n_head": 3, "n_embd": 65536, "dropout": 1.5},
        ["n_embd", "dropout", "n_embd"],
        [],
    ),
}
MEMORY = re.compile(r"^this run needs about .* of memory but ")
LINE = re.compile(r"^(error: (\w+)|warning \((\w+)\)): (.*)$")  # as the CLI says them


@pytest.fixture
def dataset(client):
    return client.post("/api/v1/datasets/sample").json()


@pytest.fixture
def prepared(dataset, tmp_path) -> Path:
    """The dataset's text prepared by the CLI, as the form's "Copy as CLI" command does."""
    source = get_settings().data_dir / "datasets" / str(dataset["id"]) / "input.txt"
    out = tmp_path / "data"
    cli("prepare", str(source), "--tokenizer", "char", "--out", str(out), check=True)
    return out


def cli(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "worker.cli", *args], capture_output=True, text=True, timeout=300
    )
    assert not check or done.returncode == 0, done.stderr
    return done


def comparable(problems: list[dict[str, str]]) -> list[tuple[str, str]]:
    """(field, message); the memory guard's message names its device, so only its start."""
    return [(p["field"], "the memory guard's" if MEMORY.match(p["message"]) else p["message"])
            for p in problems]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
@pytest.mark.slow
def test_one_verdict_through_every_client(client, dataset, prepared, train_worker, tmp_path, case):
    knobs, error_fields, warning_fields = CASES[case]
    body = {"dataset_id": dataset["id"], "tokenizer": "char", "preset": PRESET, "config": knobs}
    verdicts: dict[str, tuple[list[tuple[str, str]], list[tuple[str, str]]]] = {}

    dry = client.post("/api/v1/runs", json=body, params={"dry_run": True})
    real = client.post("/api/v1/runs", json=body)
    form = client.post("/api/v1/runs", json={**body, "strict": True}, params={"dry_run": True})
    for name, response in (("dry run", dry), ("API", real), ("form", form)):
        if error_fields:
            assert response.status_code == 422, (name, response.text)
            verdicts[name] = (comparable(response.json()["error"]["errors"]), [])
        else:
            assert response.status_code in (200, 201), (name, response.text)
            verdicts[name] = ([], comparable(response.json()["warnings"]))

    overrides = [f"--{k}={v}" for k, v in knobs.items()]
    done = cli("train", "--data", str(prepared), "--out", str(tmp_path / "out"), "--preset",
               PRESET, "--dry-run", *overrides)  # fmt: skip
    assert done.returncode == (2 if error_fields else 0), done.stderr
    said = [LINE.match(line) for line in done.stderr.splitlines()]
    printed = {kind: [{"field": m[2] or m[3], "message": m[4]} for m in said
                      if m and m[1].startswith(kind)] for kind in ("error", "warning")}  # fmt: skip
    verdicts["CLI"] = (comparable(printed["error"]), comparable(printed["warning"]))
    assert not (tmp_path / "out").exists()  # a dry run trains nothing

    errors, warnings = verdicts["API"]
    assert [field for field, _ in errors] == error_fields
    assert [field for field, _ in warnings] == warning_fields
    for name, verdict in verdicts.items():
        assert verdict == verdicts["API"], name
