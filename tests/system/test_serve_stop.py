"""Ctrl-C on `serve` while a job runs: the job's worker finishes it or is stopped with its
group, and the output holds no `WorkerLostError` or any other traceback: stopping the
service is no error (worker/jobs/stopping.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from studio_stack import REPO, TOKEN, free_port


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="process groups")
def test_ctrl_c_during_a_preparation_prints_no_traceback(tmp_path):
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")}
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        serve = subprocess.Popen(
            [sys.executable, "-m", "app.commands", "serve", "--data-dir", str(tmp_path / "data"),
             "--port", str(port)],
            cwd=REPO, env={**clean, "STUDIO_TOKEN": TOKEN}, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}/api/v1"
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            try:
                if api.get("/health").json().get("workers") == 2:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        dataset = api.post("/datasets/sample").json()
        # A BPE of a large vocabulary takes the prepare worker a while to learn.
        body = {"tokenizer": "bpe", "vocab_size": 16384, "val_fraction": 0.1}
        prep = api.post(f"/datasets/{dataset['id']}/prepare", json=body)
        assert prep.status_code == 202, prep.text
        while api.get(f"/datasets/{dataset['id']}").json()["preparations"][0]["state"] != (
            "running"
        ):
            assert time.monotonic() < deadline, "the preparation never started"
            time.sleep(0.1)
    finally:
        api.close()
        serve.send_signal(signal.SIGINT)  # Ctrl-C reaches serve alone: its children have
        code = serve.wait(timeout=120)  # sessions of their own
    output = log.read_text(errors="replace")
    assert code == 0, output[-3000:]
    assert "stopping…" in output
    assert "WorkerLostError" not in output, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
