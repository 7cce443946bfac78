"""An export through the real service: a tiny run trained by the train worker, exported by the
prepare worker (studio.export), downloaded over HTTP and loaded by transformers, whose logits
are the studio checkpoint's."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest
import torch
from hf_helpers import all_logits, ours_from_state

pytestmark = pytest.mark.on_backend("postgresql")  # a feature: one backend serves it

SHAKESPEARE = Path(__file__).resolve().parents[2] / "app" / "sample_data" / "tinyshakespeare.txt"
TINY = {"n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 8, "batch_size": 2,
        "max_iters": 4, "lr_decay_iters": 4, "warmup_iters": 1, "eval_interval": 4,
        "eval_iters": 1, "log_interval": 1, "device": "cpu", "compile": False,
        "gradient_accumulation_steps": 1}  # fmt: skip


def wait_for(api, path: str, until, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api.get(path).json()
        if until(body):
            return body
        time.sleep(0.2)
    raise AssertionError(f"{path} stuck: {body}")


def test_a_run_exported_by_the_prepare_worker_loads_in_transformers(api, stack, tmp_path):
    from transformers import GPT2LMHeadModel

    from worker.engine.checkpoints.files import clean_state_dict

    text = SHAKESPEARE.read_bytes()[:20_000]  # described inline: no inspect job to wait for
    dataset = api.post("/datasets", files={"file": ("tiny.txt", text, "text/plain")}).json()
    run = api.post("/runs", json={"dataset_id": dataset["id"], "config": TINY}).json()
    done = wait_for(api, f"/runs/{run['id']}", lambda r: r["state"] in ("succeeded", "failed"))
    assert done["state"] == "succeeded", (done["failure_reason"], done["failure_message"])

    made = api.post(f"/runs/{run['id']}/exports", json={"format": "hf", "checkpoint": "latest"})
    assert made.status_code == 202, made.text
    path = f"/runs/{run['id']}/exports/{made.json()['id']}"
    ready = wait_for(api, path, lambda e: e["state"] in ("ready", "failed"))
    assert ready["state"] == "ready" and ready["iter"] == 4, ready

    archive = api.get(stack.url + ready["file"])
    assert archive.status_code == 200 and len(archive.content) == ready["size_bytes"]
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zf:
        zf.extractall(tmp_path)
    folder = tmp_path / f"run{run['id']}-hf"
    model, info = GPT2LMHeadModel.from_pretrained(folder, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info

    latest = api.get(f"/runs/{run['id']}/checkpoints/ckpt.pt")
    checkpoint = torch.load(io.BytesIO(latest.content), map_location="cpu", weights_only=True)
    ours = ours_from_state(checkpoint["model_args"], clean_state_dict(checkpoint["model"]))
    idx = torch.randint(0, checkpoint["model_args"]["vocab_size"], (1, 8))
    with torch.no_grad():
        theirs = model.eval()(idx).logits
    torch.testing.assert_close(theirs, all_logits(ours, idx), rtol=0, atol=1e-5)
