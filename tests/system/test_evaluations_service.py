"""An evaluation through the real service: a tiny run trained by the train worker, scored by
the prepare worker (studio.evaluate) on a second dataset's text, whose figures are the
engine's on the downloaded checkpoint; and pasted text a char model cannot read fails with
the characters named."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.on_backend("sqlite")  # a feature: one backend serves it

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


def test_a_run_evaluated_by_the_prepare_worker(api, tmp_path):
    from worker.engine.checkpoints.files import clean_state_dict
    from worker.engine.model.build import build_model
    from worker.engine.sampling.sample import Sampler
    from worker.engine.sampling.score import score_text
    from worker.engine.tokenizers.load import tokenizer_from_meta

    text = SHAKESPEARE.read_bytes()
    training, held_out = text[:20_000], text[20_000:23_000]
    dataset = api.post("/datasets", files={"file": ("tiny.txt", training, "text/plain")}).json()
    other = api.post("/datasets", files={"file": ("held.txt", held_out, "text/plain")}).json()
    run = api.post("/runs", json={"dataset_id": dataset["id"], "config": TINY}).json()
    done = wait_for(api, f"/runs/{run['id']}", lambda r: r["state"] in ("succeeded", "failed"))
    assert done["state"] == "succeeded", (done["failure_reason"], done["failure_message"])

    made = api.post(f"/runs/{run['id']}/evaluations", json={"dataset_id": other["id"]})
    assert made.status_code == 202, made.text
    path = f"/runs/{run['id']}/evaluations/{made.json()['id']}"
    ready = wait_for(api, path, lambda e: e["state"] in ("ready", "failed"))
    assert ready["state"] == "ready" and ready["iter"] == 4, ready

    latest = api.get(f"/runs/{run['id']}/checkpoints/ckpt.pt")
    checkpoint = torch.load(io.BytesIO(latest.content), map_location="cpu", weights_only=True)
    model = build_model({**checkpoint["model_args"], "dropout": 0.0})
    model.load_state_dict(clean_state_dict(checkpoint["model"]))
    tokenizer = tokenizer_from_meta(checkpoint["tokenizer"])
    sampler = Sampler(model.eval(), tokenizer, source=tmp_path, iter_num=4)
    want = score_text(sampler, held_out.decode("utf-8"))
    assert ready["loss"] == pytest.approx(want.loss, rel=1e-5)
    assert ready["bits_per_char"] == pytest.approx(want.bits_per_char, rel=1e-5)
    assert ready["characters"] == len(held_out.decode("utf-8"))

    unknown = api.post(f"/runs/{run['id']}/evaluations", json={"text": "to be ☃"}).json()
    failed = wait_for(
        api, f"/runs/{run['id']}/evaluations/{unknown['id']}", lambda e: e["state"] == "failed"
    )
    assert failed["failure_reason"] == "data" and "'☃'" in failed["failure_message"]
    listed = api.get(f"/runs/{run['id']}/evaluations").json()
    assert [e["id"] for e in listed] == [unknown["id"], ready["id"]]
