"""A BPE trained on the user's text through the API (in-process app, no workers): prepare
asks for bpe-<vocab_size>, the prepare job (run here, in this process) trains it, runs and
clones name it, and bad combinations are 422s naming vocab_size."""

from __future__ import annotations

import re
from pathlib import Path

from engine_helpers import shakespeare
from studio_stack import TOKEN, assert_error

from app.api.auth import COOKIE_NAME
from app.store.access import session_value
from app.store.settings import get_settings
from worker.engine.tokenizers.bpe import TOKENIZER_FILE

TINY = {"n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 8, "batch_size": 2,
        "max_iters": 2, "lr_decay_iters": 2, "warmup_iters": 1, "eval_interval": 2,
        "eval_iters": 1, "device": "cpu", "compile": False}  # fmt: skip


def upload(client, text: str, name: str) -> dict:
    response = client.post(f"/api/v1/datasets?name={name}", content=text.encode("utf-8"))
    assert response.status_code == 201, response.text
    return response.json()


def test_prepare_with_bpe_trains_it_on_the_data(client) -> None:
    dataset = upload(client, shakespeare(20_000), "bpe.txt")
    url = f"/api/v1/datasets/{dataset['id']}/prepare"
    first = client.post(url, json={"tokenizer": "bpe", "vocab_size": 300})
    assert first.status_code == 202, first.text
    assert first.json()["tokenizer"] == "bpe-300" and first.json()["state"] == "queued"
    again = client.post(url, json={"tokenizer": "bpe", "vocab_size": 300}).json()
    assert again["id"] == first.json()["id"]  # one preparation per tokenizer name and split
    other = client.post(url, json={"tokenizer": "bpe", "vocab_size": 512}).json()
    assert other["id"] != first.json()["id"] and other["tokenizer"] == "bpe-512"
    assert client.post(url, json={"tokenizer": "bpe"}).json()["tokenizer"] == "bpe-2048"

    assert_error(
        client.post(url, json={"tokenizer": "char", "vocab_size": 300}), 422, None, "vocab_size"
    )
    assert_error(
        client.post(url, json={"tokenizer": "bpe", "vocab_size": 100}), 422, "invalid", "vocab_size"
    )
    assert_error(
        client.post(url, json={"tokenizer": "bpe", "vocab_size": 40000}),
        422,
        "invalid",
        "vocab_size",
    )

    # the prepare job, run here as a worker would run it
    from worker.jobs.tasks.prepare import prepare_dataset

    assert prepare_dataset(first.json()["id"]) == "done"
    prep = next(p for p in client.get(f"/api/v1/datasets/{dataset['id']}").json()["preparations"]
                if p["id"] == first.json()["id"])  # fmt: skip
    assert prep["state"] == "ready" and prep["vocab_size"] == 300
    assert 0.3 < (prep["train_tokens"] + prep["val_tokens"]) / dataset["characters"] < 0.9
    folder = get_settings().prepared_dir(dataset["id"], "bpe-300", 0.1)
    assert (Path(folder) / TOKENIZER_FILE).is_file()

    client.cookies.set(COOKIE_NAME, session_value(TOKEN))  # signed in, as a browser is
    page = client.get(f"/datasets/{dataset['id']}")
    assert page.status_code == 200 and "bpe-300" in page.text
    assert "Tokens per character" in page.text


def test_runs_and_clones_name_their_bpe(client) -> None:
    dataset = upload(client, shakespeare(5_000), "bpe-runs.txt")
    body = {"dataset_id": dataset["id"], "tokenizer": "bpe", "vocab_size": 320, "config": TINY}
    plan = client.post("/api/v1/runs?dry_run=true", json=body).json()
    assert plan["tokenizer"] == "bpe-320" and plan["state"] == "preparing"
    assert plan["data"]["vocab_size"] == 320 and plan["data"]["exact"] is False

    run = client.post("/api/v1/runs", json=body)
    assert run.status_code == 201, run.text
    run = run.json()
    assert run["tokenizer"] == "bpe-320" and run["state"] == "preparing"
    clone = f"/api/v1/runs/{run['id']}/clone?dry_run=true"
    assert client.post(clone, json={}).json()["tokenizer"] == "bpe-320"
    assert client.post(clone, json={"vocab_size": 512}).json()["tokenizer"] == "bpe-512"
    assert client.post(clone, json={"tokenizer": "bpe"}).json()["tokenizer"] == "bpe-320"
    assert client.post(clone, json={"tokenizer": "char"}).json()["tokenizer"] == "char"

    char = client.post("/api/v1/runs", json={**body, "tokenizer": "char", "vocab_size": None})
    assert char.status_code == 201, char.text
    bad = client.post(f"/api/v1/runs/{char.json()['id']}/clone", json={"vocab_size": 512})
    assert_error(bad, 422, None, "vocab_size")
    bad = client.post("/api/v1/runs", json={**body, "tokenizer": "gpt2"})
    assert_error(bad, 422, None, "vocab_size")


def test_pages_offer_bpe_and_compare_in_bits_per_character(client) -> None:
    dataset = upload(client, shakespeare(5_000), "bpe-pages.txt")
    body = {"dataset_id": dataset["id"], "tokenizer": "bpe", "vocab_size": 640, "config": TINY}
    bpe = client.post("/api/v1/runs", json=body).json()
    char = client.post("/api/v1/runs", json={**body, "tokenizer": "char", "vocab_size": None})
    char_too = client.post(f"/api/v1/runs/{char.json()['id']}/clone", json={})
    client.cookies.set(COOKIE_NAME, session_value(TOKEN))

    form = client.get(f"/runs/new?from={bpe['id']}").text
    assert '<option value="bpe" selected>' in form
    assert re.search(r'name="vocab_size"[^>]*value="640"', form)
    assert "data-vocab-size-field hidden" not in form  # shown for a bpe run's clone

    mixed = client.get(f"/compare?run={bpe['id']}&run={char.json()['id']}").text
    assert '<option value="bpc" selected>' in mixed  # tokenizers differ: bits per character
    same = client.get(f"/compare?run={char.json()['id']}&run={char_too.json()['id']}").text
    assert '<option value="loss" selected>' in same
