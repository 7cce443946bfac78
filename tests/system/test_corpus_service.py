"""A corpus through the whole service: a compressed JSONL too large to read before the reply
is read by the inspect job, prepared with its documents kept apart (whole documents held out
for val, an end-of-text id after each), trained on, and sampled up to the end of a document.
Tiny model, CPU; on the session's stack (SQLite + valkey, PostgreSQL + Redis)."""

from __future__ import annotations

import gzip
import json
import time

import numpy as np
import pytest

from app.store.settings import get_settings
from worker.engine.data.prepare import read_meta, token_memmap

pytestmark = pytest.mark.on_backend("postgresql")  # a feature: one backend serves it

TINY = {"n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 16, "batch_size": 8,
        "max_iters": 30, "lr_decay_iters": 30, "warmup_iters": 1, "eval_interval": 30,
        "eval_iters": 2, "log_interval": 10, "device": "cpu", "compile": False,
        "learning_rate": 3e-2}  # fmt: skip


def wait_for(api, path: str, done, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while not done(body := api.get(path).json()):
        assert time.monotonic() < deadline, body
        time.sleep(0.3)
    return body


def test_a_corpus_is_read_by_a_job_prepared_by_documents_and_sampled(api):
    # short documents, so the end of one comes often: the model learns to end them
    records = [{"id": i, "text": f"note {i % 7}: ok."} for i in range(20_000)]
    body = gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode())
    created = api.post("/datasets?name=notes.jsonl.gz", content=body)
    assert created.status_code == 201, created.text
    assert created.json()["state"] == "inspecting"  # past the tests' 200 kB inline limit
    path = f"/datasets/{created.json()['id']}"
    dataset = wait_for(api, path, lambda d: d["state"] != "inspecting")
    assert dataset["state"] == "ready", dataset["error"]
    assert dataset["documents"] == 20_000 and dataset["duplicates"] == 20_000 - 7
    assert dataset["sources"][0]["format"] == "gz"

    run = api.post("/runs", json={"dataset_id": dataset["id"], "tokenizer": "char",
                                  "config": TINY})  # fmt: skip
    assert run.status_code == 201, run.text
    done = wait_for(api, f"/runs/{run.json()['id']}", lambda r: r["state"] in (
        "succeeded", "failed", "cancelled"))  # fmt: skip
    assert done["state"] == "succeeded", (done["failure_reason"], done["failure_message"])
    [prep] = api.get(path).json()["preparations"]
    assert prep["split"] == "documents"

    data_dir = get_settings().prepared_dir(dataset["id"], "char", 0.1)
    meta = read_meta(data_dir)
    eot = meta["eot_id"]
    assert meta["tokenizer"]["chars"][eot] == "\0"
    for split in ("train", "val"):
        ids = np.asarray(token_memmap(data_dir, split))
        assert ids[-1] == eot and (ids == eot).sum() == meta[f"{split}_documents"]

    ask = {"prompt": "note", "max_new_tokens": 200, "temperature": 1.0, "seed": 7}
    free = api.post(f"/runs/{done['id']}/samples", json=ask).json()
    stopped = api.post(f"/runs/{done['id']}/samples", json={**ask, "stop_at_eot": True}).json()
    assert "<|endoftext|>" in free["completion"]
    assert "<|endoftext|>" not in stopped["completion"]
    assert free["completion"].startswith(stopped["completion"])
    assert stopped["sample"]["stop_at_eot"] is True
