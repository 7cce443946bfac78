"""A BPE trained on the user's text through the whole service: a run asks for bpe-320, the
prepare worker trains the tokenizer, the train worker trains on its ids and records bits per
character, the sample worker decodes with it. Tiny model, CPU; on the session's stack."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.on_backend("sqlite")  # a feature: one backend serves it

SHAKESPEARE = Path(__file__).resolve().parents[2] / "app" / "sample_data" / "tinyshakespeare.txt"
TINY = {"n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 16, "batch_size": 4,
        "max_iters": 6, "lr_decay_iters": 6, "warmup_iters": 1, "eval_interval": 3,
        "eval_iters": 2, "log_interval": 1, "device": "cpu", "compile": False}  # fmt: skip


def test_prepare_train_and_sample_with_a_bpe(api):
    text = SHAKESPEARE.read_bytes()[:40_000]  # small: described at once, prepared in a second
    dataset = api.post("/datasets?name=bpe-service.txt", content=text)
    assert dataset.status_code == 201, dataset.text
    body = {"dataset_id": dataset.json()["id"], "tokenizer": "bpe", "vocab_size": 320}
    run = api.post("/runs", json={**body, "config": TINY})
    assert run.status_code == 201, run.text
    assert run.json()["tokenizer"] == "bpe-320"
    deadline = time.monotonic() + 180
    while (done := api.get(f"/runs/{run.json()['id']}").json())["state"] not in (
        "succeeded",
        "failed",
        "cancelled",
    ):
        assert time.monotonic() < deadline, done
        time.sleep(0.3)
    assert done["state"] == "succeeded", (done["failure_reason"], done["failure_message"])

    prep = api.get(f"/datasets/{body['dataset_id']}").json()["preparations"][0]
    assert prep["tokenizer"] == "bpe-320" and prep["vocab_size"] == 320
    points = api.get(f"/runs/{done['id']}/metrics").json()["points"]
    evaluated = [p for p in points if p["val_loss"] is not None]
    assert [p["iter"] for p in evaluated] == [0, 3, 6]
    # at iteration 0 an untrained model is near uniform over 320 tokens; in bits per
    # character that is ln 320 nats × tokens/char ÷ ln 2, with a BPE token a few characters
    first = evaluated[0]
    ratio = first["val_bpc"] * math.log(2) / first["val_loss"]
    assert 0.3 < ratio < 0.9
    assert all(
        p["val_bpc"] * math.log(2) / p["val_loss"] == pytest.approx(ratio) for p in evaluated
    )

    sample = api.post(
        f"/runs/{done['id']}/samples", json={"prompt": "ROMEO: 😀", "max_new_tokens": 20}
    )
    assert sample.status_code == 200, sample.text
    assert sample.json()["text"].startswith("ROMEO: 😀")
